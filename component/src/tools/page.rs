//! Paging facts list tools share: `total_count`, `has_more`, `next_offset`.

use schemars::JsonSchema;
use serde::Serialize;

/// Paging facts shared by list results.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Page {
    /// Records matching the filters in all pages.
    pub total_count: u64,
    /// Offset of this page.
    pub offset: u64,
    /// Page size asked for.
    pub limit: u32,
    /// Records in this page.
    pub returned: u64,
    /// Whether more records follow this page.
    pub has_more: bool,
    /// The offset of the next page, when there is one.
    pub next_offset: Option<u64>,
}

impl Page {
    pub fn new(total: Option<u64>, offset: u64, limit: u32, returned: u64) -> Self {
        let end = offset + returned;
        // Without a total, a full page suggests more.
        let has_more = match total {
            Some(t) => end < t,
            None => returned == u64::from(limit),
        };
        Self {
            total_count: total.unwrap_or(end),
            offset,
            limit,
            returned,
            has_more,
            next_offset: has_more.then_some(end),
        }
    }
}

/// The default page size of list tools.
pub fn default_limit() -> u32 {
    50
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_with_total() {
        let p = Page::new(Some(120), 100, 50, 20);
        assert!(!p.has_more);
        assert_eq!(p.next_offset, None);
        let p = Page::new(Some(120), 50, 50, 50);
        assert!(p.has_more);
        assert_eq!(p.next_offset, Some(100));
    }

    #[test]
    fn paging_without_total_uses_a_full_page() {
        assert!(Page::new(None, 0, 10, 10).has_more);
        assert!(!Page::new(None, 0, 10, 9).has_more);
    }
}
