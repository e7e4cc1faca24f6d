//! A macro for IANA registries as newtypes with named constants.
//!
//! Unknown values round-trip unchanged and print as numbers, so a value a peer sends that we do not
//! know is never lost or confused with a known one (rustls' `enum_builder!` is the model).

/// Declares a newtype over an integer with named constants, `Debug`/`Display` that print the
/// constant's name (or the number when unknown) and a `name()` lookup.
///
/// ```
/// ipsec_core::iana_registry! {
///     /// Example registry.
///     pub struct Color(u8) {
///         /// Red.
///         RED = 1,
///         /// Blue.
///         BLUE = 2,
///     }
/// }
/// assert_eq!(Color::RED.to_string(), "RED");
/// assert_eq!(Color(7).to_string(), "7");
/// assert_eq!(Color::from(2u8), Color::BLUE);
/// ```
#[macro_export]
macro_rules! iana_registry {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident($int:ty) {
            $( $(#[$cmeta:meta])* $cname:ident = $value:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        $vis struct $name(pub $int);

        #[allow(missing_docs)]
        impl $name {
            $( $(#[$cmeta])* pub const $cname: $name = $name($value); )*

            /// The registry name of this value, `None` when the value is unknown to us.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( v if v == $value => Some(stringify!($cname)), )*
                    _ => None,
                }
            }

            /// Every named value of the registry, in declaration order.
            pub const ALL: &'static [$name] = &[ $( $name($value) ),* ];
        }

        impl From<$int> for $name {
            fn from(v: $int) -> Self {
                $name(v)
            }
        }

        impl From<$name> for $int {
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}", self.0),
                }
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }
    };
}
