//! Slugs for file names made from data: lowercase `[a-z0-9-]`, never empty,
//! never `.` or `..`; two values that collide get `-2`, `-3`… suffixes.

use std::collections::{HashMap, HashSet};

pub fn slugify(value: &str) -> String {
    let mut s = String::new();
    for c in value.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let s: String = s.trim_matches('-').chars().take(60).collect();
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() { "none".to_string() } else { s }
}

/// Slugs handed out in a stable order: the first value to claim a slug keeps it.
#[derive(Default, Debug, Clone)]
pub struct Slugs {
    by_value: HashMap<String, String>,
    taken: HashSet<String>,
}

impl Slugs {
    pub fn get(&mut self, value: &str) -> String {
        self.claim(value, &slugify(value))
    }

    /// The slug for `key`, made from an already slugified `base`.
    pub fn claim(&mut self, key: &str, base: &str) -> String {
        if let Some(s) = self.by_value.get(key) {
            return s.clone();
        }
        let base = base.to_string();
        let mut slug = base.clone();
        let mut n = 2;
        while self.taken.contains(&slug) {
            slug = format!("{base}-{n}");
            n += 1;
        }
        self.taken.insert(slug.clone());
        self.by_value.insert(key.to_string(), slug.clone());
        slug
    }

    /// The slug already given to a value.
    pub fn known(&self, value: &str) -> Option<&str> {
        self.by_value.get(value).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_stay_in_their_folder() {
        assert_eq!(slugify("A.Lee@Example.edu"), "a-lee-example-edu");
        assert_eq!(slugify("../../etc/passwd"), "etc-passwd");
        assert_eq!(slugify(".."), "none");
        assert_eq!(slugify(""), "none");
        assert_eq!(
            slugify("<script>alert(1)</script>"),
            "script-alert-1-script"
        );
    }

    #[test]
    fn collisions_get_suffixes() {
        let mut s = Slugs::default();
        assert_eq!(s.get("a.lee@x.edu"), "a-lee-x-edu");
        assert_eq!(s.get("a-lee@x.edu"), "a-lee-x-edu-2");
        assert_eq!(s.get("a.lee@x.edu"), "a-lee-x-edu");
    }
}
