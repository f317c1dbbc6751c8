//! The one way a closed set of values is stored as text: statuses, kinds,
//! roles, methods and reasons are enums in Rust and their `snake_case` text in
//! the database, in JSON and in logs.
//!
//! [`text_enum!`](crate::text_enum) declares the enum with its text once and
//! derives everything else from that single list: `as_str`, `parse`, `ALL`,
//! `Display`, `Serialize`, and sqlx's `Type`/`Encode`/`Decode` for the `Any`
//! driver, so rows hold the enum and queries bind it directly. A stored text
//! that is not in the list fails to decode (a column-decode error): that is
//! corruption, never a value silently mapped to something else.

/// Declares a closed enum stored as text. Each variant names its text once:
///
/// ```
/// signet_store::text_enum!(
///     /// Whether a key signs new tokens.
///     pub KeyStatus { Active => "active", Retired => "retired" }
/// );
/// assert_eq!(KeyStatus::parse("retired"), Some(KeyStatus::Retired));
/// assert_eq!(KeyStatus::Active.to_string(), "active");
/// ```
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $vis:vis $name:ident {
        $($(#[$variant_meta:meta])* $variant:ident => $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name { $($(#[$variant_meta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::vocabulary::__serde::Serialize for $name {
            fn serialize<S: $crate::vocabulary::__serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl $crate::sqlx::Type<$crate::sqlx::Any> for $name {
            fn type_info() -> $crate::sqlx::any::AnyTypeInfo {
                <str as $crate::sqlx::Type<$crate::sqlx::Any>>::type_info()
            }
        }

        impl<'q> $crate::sqlx::Encode<'q, $crate::sqlx::Any> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut <$crate::sqlx::Any as $crate::sqlx::Database>::ArgumentBuffer,
            ) -> ::std::result::Result<$crate::sqlx::encode::IsNull, $crate::sqlx::error::BoxDynError> {
                <&str as $crate::sqlx::Encode<'q, $crate::sqlx::Any>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> $crate::sqlx::Decode<'r, $crate::sqlx::Any> for $name {
            fn decode(
                value: $crate::sqlx::any::AnyValueRef<'r>,
            ) -> ::std::result::Result<Self, $crate::sqlx::error::BoxDynError> {
                let text = <&str as $crate::sqlx::Decode<'r, $crate::sqlx::Any>>::decode(value)?;
                Self::parse(text).ok_or_else(|| {
                    $crate::vocabulary::unexpected(stringify!($name), text)
                })
            }
        }
    };
}

#[doc(hidden)]
pub use serde as __serde;

/// The decode error for a stored text outside the enum; logged because it
/// means the database holds something no version of this code wrote.
#[doc(hidden)]
pub fn unexpected(name: &str, text: &str) -> sqlx::error::BoxDynError {
    tracing::error!(
        enum_name = name,
        value = text,
        "unexpected value in the database"
    );
    format!("unexpected {name} {text:?}").into()
}

#[cfg(test)]
mod tests {
    use crate::testing;

    crate::text_enum!(
        /// A sample vocabulary.
        pub Colour { Red => "red", DeepBlue => "deep_blue" }
    );

    #[test]
    fn text_round_trips_and_nothing_else_parses() {
        for colour in Colour::ALL {
            assert_eq!(Colour::parse(colour.as_str()), Some(*colour));
        }
        assert_eq!(Colour::DeepBlue.to_string(), "deep_blue");
        assert_eq!(
            serde_json::to_value(Colour::DeepBlue).ok(),
            Some("deep_blue".into())
        );
        assert_eq!(Colour::parse("Red"), None);
        assert_eq!(Colour::parse(""), None);
    }

    async fn binds_and_decodes(db: testing::TestDb) {
        let pool = db.store.pool();
        sqlx::query("CREATE TABLE colours (name TEXT NOT NULL)")
            .execute(pool)
            .await
            .expect("create");
        sqlx::query("INSERT INTO colours (name) VALUES ($1), ($2)")
            .bind(Colour::DeepBlue)
            .bind("purple")
            .execute(pool)
            .await
            .expect("insert");
        let blue: Colour = sqlx::query_scalar("SELECT name FROM colours WHERE name = $1")
            .bind(Colour::DeepBlue)
            .fetch_one(pool)
            .await
            .expect("decode");
        assert_eq!(blue, Colour::DeepBlue);
        let purple =
            sqlx::query_scalar::<_, Colour>("SELECT name FROM colours WHERE name = 'purple'")
                .fetch_one(pool)
                .await;
        let error = purple
            .expect_err("an unknown text is a decode error")
            .to_string();
        assert!(error.contains("unexpected Colour \"purple\""), "{error}");
    }

    #[tokio::test]
    async fn enums_bind_and_decode_on_sqlite() {
        binds_and_decodes(testing::sqlite().await).await;
    }

    #[tokio::test]
    async fn enums_bind_and_decode_on_postgres() {
        if let Some(db) = testing::postgres().await {
            binds_and_decodes(db).await;
        }
    }
}
