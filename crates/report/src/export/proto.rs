//! Just enough of the protocol buffers wire format to write a pprof
//! profile: varints, length-delimited fields and packed repeated integers.
//! Fields equal to their default (0, empty) are left out, as proto3 does.

/// A message being written; nested messages are written into their own
/// `Message` and then added with [`Message::message`].
#[derive(Default)]
pub(super) struct Message {
    bytes: Vec<u8>,
}

const VARINT: u64 = 0;
const LEN: u64 = 2;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Message {
    fn key(&mut self, field: u32, wire_type: u64) {
        put_varint(&mut self.bytes, (u64::from(field) << 3) | wire_type);
    }

    /// An `int64` or `uint64` field.
    pub(super) fn int(&mut self, field: u32, v: u64) -> &mut Self {
        if v != 0 {
            self.key(field, VARINT);
            put_varint(&mut self.bytes, v);
        }
        self
    }

    fn len_delimited(&mut self, field: u32, payload: &[u8]) {
        self.key(field, LEN);
        put_varint(&mut self.bytes, payload.len() as u64);
        self.bytes.extend_from_slice(payload);
    }

    /// A `string` field, written even when empty: a string table's first
    /// entry must be there.
    pub(super) fn string(&mut self, field: u32, s: &str) -> &mut Self {
        self.len_delimited(field, s.as_bytes());
        self
    }

    /// A packed `repeated int64` or `uint64` field.
    pub(super) fn packed(&mut self, field: u32, values: &[u64]) -> &mut Self {
        if !values.is_empty() {
            let mut payload = Vec::with_capacity(values.len() * 2);
            for &v in values {
                put_varint(&mut payload, v);
            }
            self.len_delimited(field, &payload);
        }
        self
    }

    /// An embedded message, written even when empty (a repeated entry).
    pub(super) fn message(&mut self, field: u32, m: &Message) -> &mut Self {
        self.len_delimited(field, &m.bytes);
        self
    }

    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_encoded_as_the_wire_format_says() {
        let mut inner = Message::default();
        inner.int(1, 150);
        let mut m = Message::default();
        m.int(1, 0)
            .int(2, 1)
            .string(3, "")
            .packed(4, &[3, 270])
            .message(5, &inner);
        assert_eq!(
            m.into_bytes(),
            vec![
                0x10, 0x01, // field 2 = 1; field 1 = 0 is left out
                0x1a, 0x00, // field 3 = ""
                0x22, 0x03, 0x03, 0x8e, 0x02, // field 4 = [3, 270], packed
                0x2a, 0x03, 0x08, 0x96, 0x01, // field 5 = {1: 150}
            ]
        );
    }
}
