//! A structural DER check that runs before any schema parsing: one TLV that
//! spans the input, definite minimal lengths, well-formed tags, constructed
//! contents made of whole TLVs, and bounded size and nesting. It reports the
//! byte offset of the first fault, which the schema parser cannot, and it
//! bounds the recursion of everything that follows (`nested` messages too).

use std::fmt;

/// Bounds enforced before any work is done on a message.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_size: usize,
    /// Deepest accepted nesting of constructed elements.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_size: 16 * 1024 * 1024,
            max_depth: 64,
        }
    }
}

/// Where the input stopped being acceptable DER, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerError {
    pub offset: usize,
    pub reason: String,
    /// A limit of [`Limits`] was exceeded (the input may be well-formed).
    pub limit: bool,
}

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte offset {}", self.reason, self.offset)
    }
}

impl std::error::Error for DerError {}

fn fault(offset: usize, reason: impl Into<String>) -> DerError {
    DerError {
        offset,
        reason: reason.into(),
        limit: false,
    }
}

fn over_limit(offset: usize, reason: String) -> DerError {
    DerError {
        limit: true,
        ..fault(offset, reason)
    }
}

/// Checks that `data` is exactly one well-formed DER element within `limits`.
pub fn check(data: &[u8], limits: &Limits) -> Result<(), DerError> {
    if data.len() > limits.max_size {
        return Err(over_limit(
            0,
            format!(
                "message of {} bytes exceeds the limit of {} bytes",
                data.len(),
                limits.max_size
            ),
        ));
    }
    if data.is_empty() {
        return Err(fault(0, "empty input"));
    }
    let end = element(data, 0, 0, limits)?;
    if end != data.len() {
        return Err(fault(end, "trailing data after the DER element"));
    }
    Ok(())
}

/// Checks the element starting at `pos`; returns the offset just past it.
fn element(data: &[u8], pos: usize, depth: usize, limits: &Limits) -> Result<usize, DerError> {
    // Most elements have a low tag number and a short length: read those
    // here, the other forms (and every fault) by `tag` and `length`.
    let (constructed, after_tag) = match data.get(pos) {
        Some(&first) if first & 0x1f != 0x1f => (first & 0x20 != 0, pos + 1),
        _ => tag(data, pos)?,
    };
    let (len, contents) = match data.get(after_tag) {
        Some(&first) if first < 0x80 => (usize::from(first), after_tag + 1),
        _ => length(data, after_tag)?,
    };
    let end = contents
        .checked_add(len)
        .filter(|&e| e <= data.len())
        .ok_or_else(|| {
            fault(
                after_tag,
                format!(
                    "length {} runs past the end of the input ({} bytes left)",
                    len,
                    data.len() - contents
                ),
            )
        })?;
    if constructed {
        if depth + 1 > limits.max_depth {
            return Err(over_limit(
                pos,
                format!("nesting deeper than {} levels", limits.max_depth),
            ));
        }
        let mut inner = contents;
        while inner < end {
            inner = element(&data[..end], inner, depth + 1, limits)?;
        }
    }
    Ok(end)
}

/// The identifier and length octets of the TLV at `pos`, read as [`check`]
/// reads them (tag form, minimal definite length): (the first identifier
/// octet, offset of the contents, offset after the element). With `whole`,
/// the contents must be all there; without, a TLV cut short still gives its
/// header (to salvage the header of a truncated message).
pub fn header_at(data: &[u8], pos: usize, whole: bool) -> Result<(u8, usize, usize), DerError> {
    let (_, after_tag) = tag(data, pos)?;
    let (len, contents) = length(data, after_tag)?;
    let end = contents
        .checked_add(len)
        .ok_or_else(|| fault(after_tag, "length overflows"))?;
    if whole && end > data.len() {
        return Err(fault(
            after_tag,
            format!("length {len} runs past the end of the input"),
        ));
    }
    Ok((data[pos], contents, end))
}

/// The DER element with the one-octet identifier `identifier` (class,
/// constructed bit and a tag number below 31) around `content`, written by
/// the `asn1` crate; None for an identifier of the high-tag-number form.
/// The content is taken as it is: its own encoding is the caller's.
pub fn element_of(identifier: u8, content: &[u8]) -> Option<Vec<u8>> {
    let (tag, _) = asn1::Tag::from_bytes(std::slice::from_ref(&identifier)).ok()?;
    asn1::write(|w| {
        w.write_tlv::<asn1::WriteError, _>(tag, Some(content.len()), |buf| buf.push_slice(content))
    })
    .ok()
}

/// Parses the identifier octets at `pos`: (constructed?, offset after the tag).
fn tag(data: &[u8], pos: usize) -> Result<(bool, usize), DerError> {
    let first = *data
        .get(pos)
        .ok_or_else(|| fault(pos, "truncated: tag expected"))?;
    let constructed = first & 0x20 != 0;
    if first & 0x1f != 0x1f {
        return Ok((constructed, pos + 1));
    }
    // High tag number form: base-128, minimal, fits in 32 bits.
    let mut p = pos + 1;
    let mut value: u64 = 0;
    loop {
        let b = *data
            .get(p)
            .ok_or_else(|| fault(p, "truncated: tag number continues past the end"))?;
        if p == pos + 1 && b == 0x80 {
            return Err(fault(p, "tag number is not minimally encoded"));
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if value > u64::from(u32::MAX) {
            return Err(fault(pos, "tag number too large"));
        }
        p += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    if value < 0x1f {
        return Err(fault(pos, "tag number below 31 in high-tag-number form"));
    }
    Ok((constructed, p))
}

/// Parses the length octets at `pos`: (length, offset of the contents).
fn length(data: &[u8], pos: usize) -> Result<(usize, usize), DerError> {
    let first = *data
        .get(pos)
        .ok_or_else(|| fault(pos, "truncated: length expected"))?;
    if first < 0x80 {
        return Ok((usize::from(first), pos + 1));
    }
    if first == 0x80 {
        return Err(fault(pos, "indefinite length (BER, not DER)"));
    }
    let n = usize::from(first & 0x7f);
    if n > 4 {
        return Err(fault(pos, "length field longer than 4 bytes"));
    }
    let bytes = data
        .get(pos + 1..pos + 1 + n)
        .ok_or_else(|| fault(pos, "truncated: length continues past the end"))?;
    if bytes[0] == 0 {
        return Err(fault(pos, "length is not minimally encoded"));
    }
    let len = bytes
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    if len < 0x80 {
        return Err(fault(pos, "length is not minimally encoded"));
    }
    Ok((len, pos + 1 + n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(d: &[u8]) -> bool {
        check(d, &Limits::default()).is_ok()
    }

    #[test]
    fn element_of_frames_short_and_long_contents() {
        assert_eq!(element_of(0x05, b""), Some(vec![0x05, 0x00]));
        assert_eq!(element_of(0xa3, &[1, 2]), Some(vec![0xa3, 0x02, 1, 2]));
        for size in [127usize, 128, 255, 256, 65_535, 65_536] {
            let content = vec![0x41; size];
            let der = element_of(0x04, &content).unwrap();
            assert!(ok(&der), "{size}");
            let (first, start, end) = header_at(&der, 0, true).unwrap();
            assert_eq!((first, end - start, end), (0x04, size, der.len()));
            assert_eq!(&der[start..], &content[..]);
        }
        assert_eq!(element_of(0x1f, b"x"), None);
        assert_eq!(element_of(0xbf, b"x"), None);
    }

    #[test]
    fn accepts_nested_sequences() {
        assert!(ok(&[0x30, 0x03, 0x02, 0x01, 0x05]));
        assert!(ok(&[0x30, 0x00]));
    }

    #[test]
    fn rejects_indefinite_length_with_offset() {
        let e = check(&[0x30, 0x80, 0x00, 0x00], &Limits::default()).unwrap_err();
        assert_eq!(e.offset, 1);
        assert!(e.reason.contains("indefinite"));
    }

    #[test]
    fn rejects_truncation_and_trailing_data() {
        assert!(!ok(&[0x30, 0x03, 0x02, 0x01]));
        assert!(!ok(&[0x30, 0x00, 0x00]));
        assert!(!ok(&[]));
    }

    #[test]
    fn rejects_non_minimal_lengths() {
        assert!(!ok(&[0x04, 0x81, 0x01, 0x00]));
        assert!(!ok(&[0x04, 0x82, 0x00, 0x01, 0x00]));
    }

    #[test]
    fn bounds_depth() {
        let mut d = vec![0x05, 0x00];
        for _ in 0..100 {
            let mut outer = vec![0x30];
            let len = d.len();
            if len < 128 {
                outer.push(len as u8);
            } else if len < 256 {
                outer.extend([0x81, len as u8]);
            } else {
                outer.extend([0x82, (len >> 8) as u8, len as u8]);
            }
            outer.extend(d);
            d = outer;
        }
        let e = check(&d, &Limits::default()).unwrap_err();
        assert!(e.reason.contains("nesting"));
        assert!(e.limit);
    }

    #[test]
    fn header_at_reads_one_tlv_header() {
        let data = [0x30, 0x81, 0x80];
        assert!(header_at(&data, 0, true).is_err());
        assert_eq!(header_at(&data, 0, false).unwrap(), (0x30, 3, 131));
        assert_eq!(
            header_at(&[0x04, 0x01, 0xaa], 0, true).unwrap(),
            (0x04, 2, 3)
        );
        assert!(header_at(&[0x04, 0x81, 0x01, 0xaa], 0, true).is_err()); // not minimal
        assert!(header_at(&[0x04], 0, false).is_err());
        assert!(header_at(&[], 0, false).is_err());
    }

    #[test]
    fn bounds_size() {
        let limits = Limits {
            max_size: 4,
            max_depth: 8,
        };
        assert!(check(&[0x04, 0x03, 1, 2, 3], &limits).unwrap_err().limit);
        assert!(!check(&[0x04, 0x03, 1, 2], &limits).unwrap_err().limit);
    }
}
