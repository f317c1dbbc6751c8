// Signet's signing page: drawing pads for signatures and initials.
// Without this script the page still works: signatures are typed.
// A drawing is sent as strokes of points across the pad, each coordinate
// between 0 and 1 from the top-left corner: [[[x, y], ...], ...].
(function () {
  'use strict';

  function setUpPad(panel) {
    var canvas = panel.querySelector('canvas');
    var output = panel.querySelector('input[type=hidden]');
    var clear = panel.querySelector('button.clear');
    var context = canvas.getContext('2d');
    var strokes = [];
    try { strokes = JSON.parse(output.value || '[]'); } catch (e) { strokes = []; }
    var current = null;

    function redraw() {
      context.clearRect(0, 0, canvas.width, canvas.height);
      context.lineWidth = 3;
      context.lineCap = 'round';
      context.lineJoin = 'round';
      context.strokeStyle = '#1b2a4a';
      strokes.forEach(function (stroke) {
        context.beginPath();
        stroke.forEach(function (point, i) {
          var x = point[0] * canvas.width;
          var y = point[1] * canvas.height;
          if (i === 0) { context.moveTo(x, y); context.lineTo(x + 0.1, y + 0.1); } else { context.lineTo(x, y); }
        });
        context.stroke();
      });
    }

    function point(event) {
      var box = canvas.getBoundingClientRect();
      var clamp = function (v) { return Math.min(1, Math.max(0, v)); };
      return [
        Math.round(clamp((event.clientX - box.left) / box.width) * 1000) / 1000,
        Math.round(clamp((event.clientY - box.top) / box.height) * 1000) / 1000,
      ];
    }

    function save() { output.value = strokes.length ? JSON.stringify(strokes) : ''; }

    canvas.addEventListener('pointerdown', function (event) {
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      current = [point(event)];
      strokes.push(current);
      redraw();
    });
    canvas.addEventListener('pointermove', function (event) {
      if (!current) return;
      event.preventDefault();
      current.push(point(event));
      redraw();
    });
    function end() { if (current) { current = null; save(); } }
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
    clear.addEventListener('click', function () { strokes = []; save(); redraw(); });
    redraw();
  }

  function setUpField(fieldset) {
    var radios = fieldset.querySelectorAll('input[type=radio][name$=".mode"]');
    var typed = fieldset.querySelector('.typed');
    var drawn = fieldset.querySelector('.drawn');
    if (!drawn) return;
    var ways = fieldset.querySelector('.ways');
    if (ways) ways.hidden = false;
    setUpPad(drawn);
    function show() {
      var mode = 'drawn';
      radios.forEach(function (radio) { if (radio.checked) mode = radio.value; });
      if (radios.length === 0) mode = typed ? 'typed' : 'drawn';
      drawn.hidden = mode !== 'drawn';
      if (typed) typed.hidden = mode === 'drawn';
    }
    radios.forEach(function (radio) { radio.addEventListener('change', show); });
    show();
  }

  document.querySelectorAll('fieldset.field').forEach(setUpField);
  var error = document.getElementById('signing-error');
  if (error) error.focus();
})();
