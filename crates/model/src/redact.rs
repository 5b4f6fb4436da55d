//! `Debug` for types that hold a secret (a signing key, a key share, a recipient key):
//! [`debug_public_fields!`](crate::debug_public_fields) prints only the fields it is given,
//! then `..`, so a secret field added later stays out of every log line by default.

/// Implements `Debug` for a type showing only the listed fields, each `name: expression`
/// over the value bound by `|v|`, then `..` (`finish_non_exhaustive`).
///
/// ```
/// struct Holder { name: String, secret: [u8; 32] }
/// dtfhe_model::debug_public_fields!(Holder, |h| { name: h.name });
/// let h = Holder { name: "a".into(), secret: [7; 32] };
/// assert_eq!(format!("{h:?}"), "Holder { name: \"a\", .. }");
/// # let _ = h.secret;
/// ```
#[macro_export]
macro_rules! debug_public_fields {
    ($ty:ident, |$v:ident| { $($name:ident: $value:expr),* $(,)? }) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let $v = self;
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($name), &$value))*
                    .finish_non_exhaustive()
            }
        }
    };
}
