-- A remembered consent is reused only through the redirect URI and the
-- browser session it was given in; a consent's grant replaces the
-- connection's previous one only when its code is exchanged.
ALTER TABLE oauth_grants ADD COLUMN redirect_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_grants ADD COLUMN session_id TEXT;
