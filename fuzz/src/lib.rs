//! A structure-aware mutator for the schema targets: the input is read as a
//! tree of DER elements, one element is changed (its contents, its tag, its
//! place, or whether it is there at all) and the tree is written back with
//! correct minimal lengths. Byte-level mutation alone breaks a length field
//! with almost every change, so few of its inputs reach the schema; these
//! stay well-formed DER and explore the schema's choices instead. Some of
//! the time libFuzzer's own byte-level mutation runs, so malformed DER is
//! still tried.

/// One element: its identifier octets and its contents.
#[derive(Clone, Debug)]
struct Node {
    tag: Vec<u8>,
    body: Body,
}

#[derive(Clone, Debug)]
enum Body {
    Primitive(Vec<u8>),
    Constructed(Vec<Node>),
}

/// Deepest tree the mutator builds: well past the core's 64-level limit
/// (so that limit is exercised), short of anything that would strain the
/// mutator's own recursion.
const MAX_DEPTH: usize = 80;

/// Reads `data` as a sequence of elements; `None` if it is not exactly that.
/// Lenient where DER is strict (non-minimal lengths are read, and written
/// back minimal); a constructed element whose contents are not elements
/// is kept as primitive bytes.
fn parse_all(data: &[u8], depth: usize) -> Option<Vec<Node>> {
    let mut nodes = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (node, used) = parse_one(rest, depth)?;
        nodes.push(node);
        rest = &rest[used..];
    }
    Some(nodes)
}

fn parse_one(data: &[u8], depth: usize) -> Option<(Node, usize)> {
    let first = *data.first()?;
    let mut pos = 1;
    if first & 0x1f == 0x1f {
        while *data.get(pos)? & 0x80 != 0 {
            pos += 1;
            if pos > 5 {
                return None;
            }
        }
        pos += 1;
    }
    let tag = data[..pos].to_vec();
    let len_byte = *data.get(pos)?;
    pos += 1;
    let len = if len_byte < 0x80 {
        usize::from(len_byte)
    } else {
        let n = usize::from(len_byte & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = data.get(pos..pos + n)?;
        pos += n;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let contents = data.get(pos..pos.checked_add(len)?)?;
    let body = if first & 0x20 != 0 && depth < MAX_DEPTH {
        match parse_all(contents, depth + 1) {
            Some(children) => Body::Constructed(children),
            None => Body::Primitive(contents.to_vec()),
        }
    } else {
        Body::Primitive(contents.to_vec())
    };
    Some((Node { tag, body }, pos + len))
}

fn write_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn write(nodes: &[Node], out: &mut Vec<u8>) {
    for node in nodes {
        out.extend_from_slice(&node.tag);
        match &node.body {
            Body::Primitive(bytes) => {
                write_len(out, bytes.len());
                out.extend_from_slice(bytes);
            }
            Body::Constructed(children) => {
                let mut inner = Vec::new();
                write(children, &mut inner);
                write_len(out, inner.len());
                out.extend_from_slice(&inner);
            }
        }
    }
}

/// xorshift32, seeded by libFuzzer: the same seed gives the same mutation.
struct Rng(u32);

impl Rng {
    fn new(seed: u32) -> Self {
        Rng(seed | 1)
    }
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.next() as usize % n
        }
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Where a node sits: the child indices from the top-level list down.
type Path = Vec<usize>;

fn paths(nodes: &[Node], prefix: &mut Path, out: &mut Vec<Path>) {
    for (i, node) in nodes.iter().enumerate() {
        prefix.push(i);
        out.push(prefix.clone());
        if let Body::Constructed(children) = &node.body {
            paths(children, prefix, out);
        }
        prefix.pop();
    }
}

/// The list that holds the node at `path`, and the node's index in it.
fn parent_list<'a>(nodes: &'a mut Vec<Node>, path: &[usize]) -> (&'a mut Vec<Node>, usize) {
    let (&last, above) = path.split_last().expect("paths are never empty");
    let mut list = nodes;
    for &i in above {
        list = match &mut list[i].body {
            Body::Constructed(children) => children,
            Body::Primitive(_) => unreachable!("paths only descend into constructed nodes"),
        };
    }
    (list, last)
}

fn node_at<'a>(nodes: &'a mut Vec<Node>, path: &[usize]) -> &'a mut Node {
    let (list, i) = parent_list(nodes, path);
    &mut list[i]
}

/// Identifier octets the CMP schema uses: the universal types, and context
/// tags 0..=26 (PKIBody goes up to [26]) primitive and constructed.
fn interesting_tag(rng: &mut Rng) -> Vec<u8> {
    const UNIVERSAL: [u8; 14] = [
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0a, 0x0c, 0x13, 0x16, 0x17, 0x18, 0x30, 0x31,
    ];
    match rng.below(3) {
        0 => vec![*rng.pick(&UNIVERSAL)],
        1 => vec![0x80 | rng.below(27) as u8],
        _ => vec![0xa0 | rng.below(27) as u8],
    }
}

/// Contents that sit on the boundaries of DER's rules for the common types.
fn interesting_contents(rng: &mut Rng) -> Vec<u8> {
    const VALUES: [&[u8]; 22] = [
        b"",
        b"\x00",
        b"\x01",
        b"\x7f",
        b"\x80",
        b"\xff",
        b"\x00\x80",
        b"\x00\x7f",
        b"\xff\x80",
        b"\xff\x7f",
        b"\x7f\xff\xff\xff\xff\xff\xff\xff",
        b"\x00\x80\x00\x00\x00\x00\x00\x00\x00",
        b"\x80\x00\x00\x00\x00\x00\x00\x00",
        b"\x07\x80",
        b"\x00\x00",
        b"\x01\xff",
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b",
        b"\x80\x01",
        b"491231235959Z",
        b"500101000000Z",
        b"20500101000000Z",
        b"20240229120000.5Z",
    ];
    rng.pick(&VALUES).to_vec()
}

/// One structural change to the tree; false if it did not apply.
fn mutate_tree(nodes: &mut Vec<Node>, rng: &mut Rng, max_size: usize) -> bool {
    let mut all = Vec::new();
    paths(nodes, &mut Vec::new(), &mut all);
    if all.is_empty() {
        return false;
    }
    let path = rng.pick(&all).clone();
    match rng.below(10) {
        // The contents of a primitive element, through libFuzzer's mutator.
        0..=2 => {
            let node = node_at(nodes, &path);
            let Body::Primitive(bytes) = &mut node.body else {
                return false;
            };
            let cap = (bytes.len() * 2 + 16).min(max_size);
            let len = bytes.len().min(cap);
            bytes.resize(cap, 0);
            let new_len = libfuzzer_sys::fuzzer_mutate(bytes, len, cap);
            bytes.truncate(new_len);
        }
        // Contents on a DER boundary.
        3 => {
            let contents = interesting_contents(rng);
            node_at(nodes, &path).body = Body::Primitive(contents);
        }
        // Another tag (the contents stay).
        4 => {
            let tag = interesting_tag(rng);
            let node = node_at(nodes, &path);
            let constructed = tag[0] & 0x20 != 0;
            node.body = match (
                std::mem::replace(&mut node.body, Body::Primitive(Vec::new())),
                constructed,
            ) {
                (Body::Constructed(c), true) => Body::Constructed(c),
                (Body::Primitive(p), false) => Body::Primitive(p),
                (Body::Constructed(c), false) => {
                    let mut bytes = Vec::new();
                    write(&c, &mut bytes);
                    Body::Primitive(bytes)
                }
                (Body::Primitive(p), true) => match parse_all(&p, 0) {
                    Some(children) => Body::Constructed(children),
                    None => Body::Constructed(Vec::new()),
                },
            };
            node.tag = tag;
        }
        // Drop it (an absent OPTIONAL, a missing mandatory field).
        5 => {
            let (list, i) = parent_list(nodes, &path);
            list.remove(i);
        }
        // Repeat it (a SEQUENCE OF with more elements, a duplicate field).
        6 => {
            let (list, i) = parent_list(nodes, &path);
            let copy = list[i].clone();
            list.insert(i, copy);
        }
        // Swap it with a sibling (fields out of order).
        7 => {
            let (list, i) = parent_list(nodes, &path);
            let j = rng.below(list.len());
            list.swap(i, j);
        }
        // Replace it by a copy of another element of the input.
        8 => {
            let other = rng.pick(&all).clone();
            if other.starts_with(&path) {
                return false;
            }
            let copy = node_at(nodes, &other).clone();
            *node_at(nodes, &path) = copy;
        }
        // Wrap it in a context tag (EXPLICIT), or unwrap a one-child element.
        _ => {
            let node = node_at(nodes, &path);
            match &mut node.body {
                Body::Constructed(children) if children.len() == 1 && rng.below(2) == 0 => {
                    *node = children.remove(0);
                }
                _ => {
                    let inner = node.clone();
                    *node = Node {
                        tag: vec![0xa0 | rng.below(27) as u8],
                        body: Body::Constructed(vec![inner]),
                    };
                }
            }
        }
    }
    true
}

/// The custom mutator of a schema target. `data[..prefix]` is not DER (the
/// `types` target's selector byte) and is mutated on its own now and then.
pub fn mutate(data: &mut [u8], size: usize, max_size: usize, seed: u32, prefix: usize) -> usize {
    let mut rng = Rng::new(seed);
    if size < prefix || rng.below(5) == 0 {
        return libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    }
    if prefix > 0 && rng.below(8) == 0 {
        data[rng.below(prefix)] = rng.next() as u8;
        return size;
    }
    let Some(mut nodes) = parse_all(&data[prefix..size], 0) else {
        return libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    };
    let mut changed = false;
    for _ in 0..=rng.below(3) {
        changed |= mutate_tree(&mut nodes, &mut rng, max_size);
    }
    let mut out = Vec::with_capacity(size);
    write(&nodes, &mut out);
    if !changed || prefix + out.len() > max_size {
        return libfuzzer_sys::fuzzer_mutate(data, size, max_size);
    }
    data[prefix..prefix + out.len()].copy_from_slice(&out);
    prefix + out.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_round_trips_through_the_tree() {
        let der = [0x30, 0x06, 0x02, 0x01, 0x05, 0xa0, 0x01, 0x00];
        // [0] holds one byte that is not an element: kept as primitive bytes.
        let nodes = parse_all(&der, 0).unwrap();
        let mut out = Vec::new();
        write(&nodes, &mut out);
        assert_eq!(out, der);
    }

    #[test]
    fn lengths_are_rewritten_minimal() {
        let nodes = parse_all(&[0x04, 0x81, 0x01, 0xaa], 0).unwrap();
        let mut out = Vec::new();
        write(&nodes, &mut out);
        assert_eq!(out, [0x04, 0x01, 0xaa]);
    }
}
