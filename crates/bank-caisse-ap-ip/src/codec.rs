//! The Caisse-AP frame: tag-length-value fields, `CZ` first.
//!
//! ```text
//! TT LLL VVV…   tag: two ASCII upper-case letters
//!               length: exactly three ASCII digits ("004")
//!               value: that many ASCII characters
//! ```
//!
//! A frame is a plain concatenation of fields; there is no header, terminator or checksum,
//! so a reader only knows a frame is whole because its bytes split exactly into fields
//! ([`Scanner`]). Encoding writes the whole frame into one buffer ([`Frame::encode`]), so
//! it can go out in one write. Decoding borrows: the values of a [`Frame`] decoded from a
//! buffer are `&str` views into it ([`Cow::Borrowed`]), nothing is copied.
//!
//! Tags whose first letter is `Z` are *constructed*: their value is itself a sequence of
//! fields (`ZT` holds `CK` and `AK`), read with [`Field::children`]. Unknown tags are kept
//! in order.

use std::borrow::Cow;
use std::fmt;

use crate::error::CaisseApError;

/// Longest value a field can carry (three-digit length).
pub const MAX_VALUE_LEN: usize = 999;

/// Bytes of a field header: two for the tag, three for the length.
pub const HEADER_LEN: usize = 5;

/// A two-letter tag.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag([u8; 2]);

macro_rules! tags {
    ($($name:ident => $doc:literal),* $(,)?) => {
        impl Tag {
            $(
                #[doc = $doc]
                pub const $name: Tag = Tag(*{
                    let s = stringify!($name).as_bytes();
                    &[s[0], s[1]]
                });
            )*
        }
    };
}

tags! {
    CZ => "Protocol version (`0300`), always the first field.",
    CJ => "Concert protocol identifier of the POS software (12 digits).",
    CA => "POS (cash register) number, two digits.",
    CB => "Amount in minor units, at least two digits.",
    CD => "Action type: `0` debit, `1` refund.",
    CE => "Currency, ISO 4217 numeric.",
    CC => "Payment application (`00C` cheque; in answers the application used).",
    BA => "Answer mode: `0` at the end of the transaction.",
    BF => "Partial payment allowed (not sent: newer Ingenico software rejects it).",
    CF => "Private data.",
    CG => "Merchant contract number.",
    CH => "External transaction reference.",
    CI => "Card reading mode.",
    CK => "Ticket handling (inside `ZT`).",
    ZT => "Constructed: the ticket (`CK` and `AK`).",
    AK => "Ticket data, base64 (inside `ZT`).",
    AE => "Action status: `10` done, `01` not done.",
    AF => "Failure reason: two-digit code, optionally followed by more data.",
    AA => "Card number, masked by the terminal.",
    AB => "Card expiry, `YYMM`.",
    AC => "Authorisation number.",
    AI => "Card application identifier (AID).",
    AL => "Card number type.",
}

fn is_tag_byte(b: u8) -> bool {
    b.is_ascii_uppercase()
}

impl Tag {
    /// A tag from two bytes, if both are ASCII upper-case letters.
    pub fn from_bytes(b: [u8; 2]) -> Option<Tag> {
        (is_tag_byte(b[0]) && is_tag_byte(b[1])).then_some(Tag(b))
    }

    /// A tag from text ("CZ").
    pub fn parse(s: &str) -> Option<Tag> {
        match s.as_bytes() {
            [a, b] => Tag::from_bytes([*a, *b]),
            _ => None,
        }
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters: always valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// The two bytes.
    pub fn bytes(self) -> [u8; 2] {
        self.0
    }

    /// A constructed tag (`Z…`): its value is a sequence of fields.
    pub fn is_constructed(self) -> bool {
        self.0[0] == b'Z'
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field: a tag and its value. Decoded fields borrow their value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Field<'a> {
    /// The tag.
    pub tag: Tag,
    /// The value (ASCII).
    pub value: Cow<'a, str>,
}

impl<'a> Field<'a> {
    /// A field.
    pub fn new(tag: Tag, value: impl Into<Cow<'a, str>>) -> Self {
        Field {
            tag,
            value: value.into(),
        }
    }

    /// A constructed field whose value is `children` encoded.
    ///
    /// # Errors
    /// As [`Frame::encode`] for the children (empty or over-long values); the encoded
    /// children must fit in 999 characters.
    pub fn constructed(tag: Tag, children: &[Field<'_>]) -> Result<Field<'static>, CaisseApError> {
        let mut out = Vec::new();
        for c in children {
            encode_field(c, &mut out)?;
        }
        // Only ASCII was written.
        let value = String::from_utf8(out).unwrap_or_default();
        Ok(Field::new(tag, value))
    }

    /// The fields inside a constructed value (`ZT`).
    ///
    /// # Errors
    /// A codec error when the value is not a sequence of whole fields.
    pub fn children(&self) -> Result<Vec<Field<'_>>, CaisseApError> {
        decode_fields(self.value.as_bytes())
    }

    /// The same field owning its value.
    pub fn into_owned(self) -> Field<'static> {
        Field {
            tag: self.tag,
            value: Cow::Owned(self.value.into_owned()),
        }
    }
}

/// A frame: fields in order, `CZ` first.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Frame<'a> {
    fields: Vec<Field<'a>>,
}

impl<'a> Frame<'a> {
    /// A frame starting with `CZ` = `version`.
    pub fn new(version: impl Into<Cow<'a, str>>) -> Self {
        Frame {
            fields: vec![Field::new(Tag::CZ, version)],
        }
    }

    /// A frame of these fields, as given (checked when encoded).
    pub fn from_fields(fields: Vec<Field<'a>>) -> Self {
        Frame { fields }
    }

    /// Appends a field.
    pub fn push(&mut self, tag: Tag, value: impl Into<Cow<'a, str>>) -> &mut Self {
        self.fields.push(Field::new(tag, value));
        self
    }

    /// The fields, in order.
    pub fn fields(&self) -> &[Field<'a>] {
        &self.fields
    }

    /// The value of the first field with `tag`.
    pub fn get(&self, tag: Tag) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.tag == tag)
            .map(|f| f.value.as_ref())
    }

    /// How many fields have `tag` (a well-formed frame has at most one).
    pub fn count(&self, tag: Tag) -> usize {
        self.fields.iter().filter(|f| f.tag == tag).count()
    }

    /// The protocol version (`CZ`).
    pub fn version(&self) -> Option<&str> {
        self.get(Tag::CZ)
    }

    /// Bytes of the encoded frame.
    pub fn encoded_len(&self) -> usize {
        self.fields.iter().map(|f| HEADER_LEN + f.value.len()).sum()
    }

    /// Checks the rules of a frame to send: `CZ` first and once, each tag once, values of
    /// 1 to 999 ASCII characters.
    ///
    /// # Errors
    /// [`CaisseApError::EmptyFrame`], [`CaisseApError::VersionNotFirst`],
    /// [`CaisseApError::DuplicateTag`], [`CaisseApError::EmptyValue`],
    /// [`CaisseApError::ValueTooLong`], [`CaisseApError::NotAscii`].
    pub fn check(&self) -> Result<(), CaisseApError> {
        let first = self.fields.first().ok_or(CaisseApError::EmptyFrame)?;
        if first.tag != Tag::CZ {
            return Err(CaisseApError::VersionNotFirst {
                found: first.tag.to_string(),
            });
        }
        for (i, f) in self.fields.iter().enumerate() {
            if self.fields[..i].iter().any(|g| g.tag == f.tag) {
                return Err(CaisseApError::DuplicateTag {
                    tag: f.tag.to_string(),
                });
            }
            check_value(f)?;
        }
        Ok(())
    }

    /// Encodes the frame into one buffer.
    ///
    /// # Errors
    /// As [`Frame::check`].
    pub fn encode(&self) -> Result<Vec<u8>, CaisseApError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the encoded frame to `out` (nothing is appended on error).
    ///
    /// # Errors
    /// As [`Frame::check`].
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), CaisseApError> {
        self.check()?;
        out.reserve(self.encoded_len());
        for f in &self.fields {
            write_field(f, out);
        }
        Ok(())
    }

    /// Decodes a whole frame, borrowing the values from `bytes`. Unknown tags are kept;
    /// repeated tags are kept too (the answer check refuses them where they matter).
    ///
    /// # Errors
    /// [`CaisseApError::EmptyFrame`], a malformed or truncated field, a byte outside
    /// ASCII, or [`CaisseApError::VersionNotFirst`].
    pub fn decode(bytes: &'a [u8]) -> Result<Frame<'a>, CaisseApError> {
        let fields = decode_fields(bytes)?;
        let first = fields.first().ok_or(CaisseApError::EmptyFrame)?;
        if first.tag != Tag::CZ {
            return Err(CaisseApError::VersionNotFirst {
                found: first.tag.to_string(),
            });
        }
        Ok(Frame { fields })
    }

    /// The same frame owning its values.
    pub fn into_owned(self) -> Frame<'static> {
        Frame {
            fields: self.fields.into_iter().map(Field::into_owned).collect(),
        }
    }
}

fn check_value(f: &Field<'_>) -> Result<(), CaisseApError> {
    let len = f.value.len();
    if len == 0 {
        return Err(CaisseApError::EmptyValue {
            tag: f.tag.to_string(),
        });
    }
    if len > MAX_VALUE_LEN {
        return Err(CaisseApError::ValueTooLong {
            tag: f.tag.to_string(),
            len,
        });
    }
    if let Some(offset) = f.value.bytes().position(|b| !b.is_ascii()) {
        return Err(CaisseApError::NotAscii {
            offset,
            byte: f.value.as_bytes()[offset],
        });
    }
    Ok(())
}

fn write_field(f: &Field<'_>, out: &mut Vec<u8>) {
    let len = f.value.len();
    out.extend_from_slice(&f.tag.0);
    // len <= 999, checked: three digits.
    out.push(b'0' + (len / 100) as u8);
    out.push(b'0' + (len / 10 % 10) as u8);
    out.push(b'0' + (len % 10) as u8);
    out.extend_from_slice(f.value.as_bytes());
}

fn encode_field(f: &Field<'_>, out: &mut Vec<u8>) -> Result<(), CaisseApError> {
    check_value(f)?;
    write_field(f, out);
    Ok(())
}

/// Shows bytes for an error message: printable ASCII as is, anything else as `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// Reads the field at `pos`: `Ok(None)` when the buffer ends inside it.
fn field_at(buf: &[u8], pos: usize) -> Result<Option<(Field<'_>, usize)>, CaisseApError> {
    let rest = &buf[pos..];
    check_header_prefix(buf, pos)?;
    if rest.len() < HEADER_LEN {
        return Ok(None);
    }
    let tag = Tag([rest[0], rest[1]]);
    let len = usize::from(rest[2] - b'0') * 100
        + usize::from(rest[3] - b'0') * 10
        + usize::from(rest[4] - b'0');
    let start = pos + HEADER_LEN;
    let end = start + len;
    if end > buf.len() {
        return Ok(None);
    }
    let raw = &buf[start..end];
    if let Some(i) = raw.iter().position(|b| !b.is_ascii()) {
        return Err(CaisseApError::NotAscii {
            offset: start + i,
            byte: raw[i],
        });
    }
    // ASCII is valid UTF-8.
    let value = std::str::from_utf8(raw).map_err(|_| CaisseApError::NotAscii {
        offset: start,
        byte: raw.first().copied().unwrap_or(0),
    })?;
    Ok(Some((Field::new(tag, value), end)))
}

/// Checks the header bytes available at `pos` (possibly fewer than five).
fn check_header_prefix(buf: &[u8], pos: usize) -> Result<(), CaisseApError> {
    let avail = &buf[pos..buf.len().min(pos + HEADER_LEN)];
    let tag_part = &avail[..avail.len().min(2)];
    if !tag_part.iter().all(|&b| is_tag_byte(b)) {
        return Err(CaisseApError::BadTag {
            offset: pos,
            found: escape(tag_part),
        });
    }
    if avail.len() > 2 && !avail[2..].iter().all(u8::is_ascii_digit) {
        return Err(CaisseApError::BadLength {
            offset: pos + 2,
            tag: escape(tag_part),
            found: escape(&avail[2..]),
        });
    }
    Ok(())
}

/// Decodes a sequence of whole fields (no `CZ` rule: constructed values use it too).
///
/// # Errors
/// A malformed or truncated field, or a byte outside ASCII.
pub fn decode_fields(bytes: &[u8]) -> Result<Vec<Field<'_>>, CaisseApError> {
    let mut fields = Vec::new();
    let mut pos = 0;
    // Each round consumes at least a header: bounded by the length of the input.
    while pos < bytes.len() {
        match field_at(bytes, pos)? {
            Some((f, next)) => {
                fields.push(f);
                pos = next;
            }
            None => {
                let rest = &bytes[pos..];
                let declared = if rest.len() >= HEADER_LEN {
                    usize::from(rest[2] - b'0') * 100
                        + usize::from(rest[3] - b'0') * 10
                        + usize::from(rest[4] - b'0')
                } else {
                    HEADER_LEN
                };
                return Err(CaisseApError::Truncated {
                    offset: pos,
                    tag: escape(&rest[..rest.len().min(2)]),
                    declared,
                    available: rest.len().saturating_sub(HEADER_LEN),
                });
            }
        }
    }
    Ok(fields)
}

/// Where an incremental read stands.
#[derive(Debug)]
pub enum Scan {
    /// Nothing received yet.
    Empty,
    /// The bytes so far end inside a field: wait for more.
    Partial,
    /// The bytes so far split exactly into whole fields. More may still come: a split
    /// on a field boundary looks complete too early.
    Complete {
        /// Top-level fields so far.
        fields: usize,
        /// An action status (`AE`) was seen: a final answer always has one.
        has_status: bool,
    },
    /// The bytes can never become a frame.
    Invalid(CaisseApError),
}

/// Incremental frame detection over a growing buffer, in linear time: each call only
/// looks at the bytes after the last whole field.
#[derive(Debug, Default, Clone)]
pub struct Scanner {
    pos: usize,
    fields: usize,
    has_status: bool,
}

impl Scanner {
    /// A scanner at the start of a frame.
    pub fn new() -> Self {
        Scanner::default()
    }

    /// Looks at `buf`, the whole buffer so far (it must only grow between calls).
    pub fn scan(&mut self, buf: &[u8]) -> Scan {
        if buf.is_empty() {
            return Scan::Empty;
        }
        // Bounded: each round consumes one whole field of at least five bytes.
        while self.pos < buf.len() {
            match field_at(buf, self.pos) {
                Err(e) => return Scan::Invalid(e),
                Ok(None) => return Scan::Partial,
                Ok(Some((f, next))) => {
                    if self.fields == 0 && f.tag != Tag::CZ {
                        return Scan::Invalid(CaisseApError::VersionNotFirst {
                            found: f.tag.to_string(),
                        });
                    }
                    self.has_status |= f.tag == Tag::AE;
                    self.fields += 1;
                    self.pos = next;
                }
            }
        }
        Scan::Complete {
            fields: self.fields,
            has_status: self.has_status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_example() {
        let f = Frame::new("0300");
        assert_eq!(f.encode().unwrap(), b"CZ0040300");
    }

    #[test]
    fn decode_borrows() {
        let bytes = b"CZ0040300AE00210".to_vec();
        let f = Frame::decode(&bytes).unwrap();
        assert!(matches!(f.fields()[1].value, Cow::Borrowed(_)));
        assert_eq!(f.get(Tag::AE), Some("10"));
    }

    #[test]
    fn constructed_round_trip() {
        let zt = Field::constructed(
            Tag::ZT,
            &[Field::new(Tag::CK, "100"), Field::new(Tag::AK, "aGVsbG8=")],
        )
        .unwrap();
        assert_eq!(zt.value, "CK003100AK008aGVsbG8=");
        let kids = zt.children().unwrap();
        assert_eq!(kids[1].value, "aGVsbG8=");
    }

    #[test]
    fn scanner_is_incremental() {
        let full = b"CZ0040300AE00210";
        let mut s = Scanner::new();
        for n in 0..full.len() {
            match s.scan(&full[..n]) {
                Scan::Empty => assert_eq!(n, 0),
                Scan::Partial => {}
                Scan::Complete { has_status, .. } => assert!(n == 9 && !has_status),
                Scan::Invalid(e) => panic!("{n}: {e}"),
            }
        }
        assert!(matches!(
            s.scan(full),
            Scan::Complete {
                fields: 2,
                has_status: true
            }
        ));
    }

    #[test]
    fn scanner_rejects_early() {
        assert!(matches!(Scanner::new().scan(b"C"), Scan::Partial));
        assert!(matches!(Scanner::new().scan(b"c"), Scan::Invalid(_)));
        assert!(matches!(Scanner::new().scan(b"CZ0X"), Scan::Invalid(_)));
        assert!(matches!(
            Scanner::new().scan(b"AE00210"),
            Scan::Invalid(CaisseApError::VersionNotFirst { .. })
        ));
    }

    #[test]
    fn escape_shows_bytes() {
        assert_eq!(escape(b"AB\r\n\xff"), "AB\\x0d\\x0a\\xff");
    }
}
