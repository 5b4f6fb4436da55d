//! A bounds-checked cursor over the bytes of a binary format (the wire chunk, ledger entries,
//! public columns, ceremony messages): every decoder of outside bytes reads through it, so
//! none indexes a slice itself and a short input is always an error, never a panic.
//!
//! The cursor knows nothing of any format: a read names its field, and [`Truncated`] says
//! which field, where and how many bytes were missing, for each decoder to turn into its
//! own error.

/// The input ended inside a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("truncated at {field}: need {need} bytes at offset {offset}, have {left}")]
pub struct Truncated {
    /// The field being read.
    pub field: String,
    /// Its length in bytes.
    pub need: usize,
    /// Where it starts.
    pub offset: usize,
    /// How many bytes were left.
    pub left: usize,
}

/// Reads fields one after another from the front of a byte slice.
#[derive(Debug, Clone)]
pub struct ByteCursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Fixed-width integer readers, one per type and byte order.
macro_rules! int_readers {
    ($($(#[doc = $doc:tt])* $name:ident -> $int:ty = $from:ident;)*) => {$(
        $(#[doc = $doc])*
        pub fn $name(&mut self, field: &str) -> Result<$int, Truncated> {
            Ok(<$int>::$from(self.array(field)?))
        }
    )*};
}

impl<'a> ByteCursor<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> ByteCursor<'a> {
        ByteCursor { bytes, pos: 0 }
    }

    /// The offset of the next byte to read.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// How many bytes are left to read (a decoder refuses trailing bytes with it).
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, field: &str, n: usize) -> Result<&'a [u8], Truncated> {
        if n > self.remaining() {
            return Err(Truncated {
                field: field.to_string(),
                need: n,
                offset: self.pos,
                left: self.remaining(),
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], Truncated> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(field, N)?);
        Ok(a)
    }

    /// The next byte.
    pub fn u8(&mut self, field: &str) -> Result<u8, Truncated> {
        Ok(self.array::<1>(field)?[0])
    }

    int_readers! {
        /// A big-endian `u16`.
        u16_be -> u16 = from_be_bytes;
        /// A big-endian `u32`.
        u32_be -> u32 = from_be_bytes;
        /// A big-endian `u64`.
        u64_be -> u64 = from_be_bytes;
        /// A little-endian `u16`.
        u16_le -> u16 = from_le_bytes;
        /// A little-endian `u32`.
        u32_le -> u32 = from_le_bytes;
        /// A little-endian `u64`.
        u64_le -> u64 = from_le_bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_order_and_refuses_a_short_input() {
        let bytes = [1u8, 0, 2, 3, 0, 0, 0, 9];
        let mut c = ByteCursor::new(&bytes);
        assert_eq!(c.u8("a"), Ok(1));
        assert_eq!(c.u16_be("b"), Ok(2));
        assert_eq!(c.u32_le("c"), Ok(3));
        assert_eq!(c.pos(), 7);
        assert_eq!(
            c.u16_be("d"),
            Err(Truncated {
                field: "d".into(),
                need: 2,
                offset: 7,
                left: 1
            })
        );
        // A failed read consumes nothing.
        assert_eq!(c.remaining(), 1);
        assert_eq!(c.take("e", 1), Ok(&[9u8][..]));
        assert_eq!(c.take("f", usize::MAX).map_err(|t| t.left), Err(0));
    }
}
