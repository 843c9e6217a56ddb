//! Tables of names and the values they stand for (`&[("qcow2",
//! ImageFormat::Qcow2), …]`), looked up both ways: the enums that keep an
//! outside program's exact names (qemu's formats, libguestfs's OS
//! families and distributions) share these two lookups.

/// The value `name` stands for in `table`.
pub fn value_of<T: Clone>(table: &[(&str, T)], name: &str) -> Option<T> {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.clone())
}

/// The name of `value` in `table`.
pub fn name_of<'a, T: PartialEq>(table: &[(&'a str, T)], value: &T) -> Option<&'a str> {
    table.iter().find(|(_, v)| v == value).map(|&(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[(&str, u8)] = &[("one", 1), ("two", 2)];

    #[test]
    fn both_ways() {
        assert_eq!(value_of(TABLE, "two"), Some(2));
        assert_eq!(value_of(TABLE, "three"), None);
        assert_eq!(name_of(TABLE, &1), Some("one"));
        assert_eq!(name_of(TABLE, &3), None);
    }
}
