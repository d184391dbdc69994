//! Sorted listings, computed from the source once per version and kept in
//! the shared cache in chunks (each well under DynamoDB's 400 KB item
//! limit), with cursors that stay on the listing version they were cut
//! from while that version is kept.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::product::{Category, ProductView};
use super::store::{CatalogStore, Shelf};
use crate::aws::StoreError;
use crate::cache::{L1, TwoTier, Weigh};

/// Products per chunk: a product's JSON is at most about 1.1 KB (a 64-byte
/// sku and category, a 200-character name of up to 4 bytes each), so a
/// chunk stays under about 280 KB, below the 400 KB item limit.
pub const CHUNK: usize = 250;

/// The order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sort {
    /// By name, then sku.
    Name,
    /// By price, then name, then sku.
    Price,
}

impl Sort {
    /// `name` or `price`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "name" => Some(Self::Name),
            "price" => Some(Self::Price),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Price => "price",
        }
    }

    fn sort(self, products: &mut [ProductView]) {
        match self {
            Self::Name => products.sort_by(|a, b| (&a.name, &a.sku).cmp(&(&b.name, &b.sku))),
            Self::Price => products.sort_by(|a, b| {
                (a.price.amount, &a.name, &a.sku).cmp(&(b.price.amount, &b.name, &b.sku))
            }),
        }
    }
}

/// One chunk of a sorted listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Products in the whole listing.
    pub total: usize,
    /// This chunk's, in order.
    pub products: Vec<ProductView>,
}

impl Weigh for Chunk {
    fn bytes(&self) -> usize {
        self.products
            .iter()
            .map(|p| p.sku.len() + p.name.len() + p.category.len() + 64)
            .sum()
    }
}

/// Where a page starts: a listing version and an offset into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingCursor {
    shelf: String,
    sort: Sort,
    version: u64,
    offset: usize,
}

impl ListingCursor {
    /// The opaque form clients see.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "p1|{}|{}|{}|{}",
            self.sort.as_str(),
            self.shelf,
            self.version,
            self.offset
        ))
    }

    /// The cursor of `raw`, if this API gave it out for this listing.
    pub fn decode(raw: &str, shelf: &Shelf, sort: Sort) -> Option<Self> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
        let mut parts = text.split('|');
        let (tag, s, sh, version, offset) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if tag != "p1" || parts.next().is_some() || s != sort.as_str() || sh != shelf.key() {
            return None;
        }
        Some(Self {
            shelf: sh.to_string(),
            sort,
            version: version.parse().ok()?,
            offset: offset.parse().ok()?,
        })
    }
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingPage {
    /// Its products.
    pub products: Vec<ProductView>,
    /// Where the next page starts; `None` on the last.
    pub next: Option<ListingCursor>,
}

/// The listings: versions through an L1 (so a write is seen within its
/// TTL), chunks through both tiers, computed once per version.
pub struct Listings {
    store: CatalogStore,
    versions: L1<u64>,
    chunks: TwoTier<Chunk>,
}

impl Listings {
    /// Listings of `store`, versions through `versions`, chunks through `chunks`.
    pub fn new(store: CatalogStore, versions: L1<u64>, chunks: TwoTier<Chunk>) -> Self {
        Self {
            store,
            versions,
            chunks,
        }
    }

    /// The chunks' tiers (tests read their counts).
    pub fn chunks(&self) -> &TwoTier<Chunk> {
        &self.chunks
    }

    /// The versions' L1.
    pub fn versions(&self) -> &L1<u64> {
        &self.versions
    }

    /// Up to `limit` products of `shelf` in `sort` order, from `cursor`.
    /// A cursor of a version no longer kept goes on at its offset in the
    /// current version.
    pub async fn page(
        &self,
        shelf: &Shelf,
        sort: Sort,
        limit: usize,
        cursor: Option<&ListingCursor>,
    ) -> Result<ListingPage, Arc<StoreError>> {
        let current = self
            .versions
            .get_or_load(
                &format!("version#{}", shelf.key()),
                self.store.listing_version(shelf),
            )
            .await?;
        if current == 0 {
            // No product was ever in it: nothing to compute, nothing to keep
            // (a flood of made-up categories costs one read each per TTL).
            return Ok(ListingPage {
                products: Vec::new(),
                next: None,
            });
        }
        let (mut version, mut offset) = (current, 0);
        if let Some(cursor) = cursor {
            offset = cursor.offset;
            if cursor.version != current {
                let key = chunk_key(shelf, sort, cursor.version, cursor.offset / CHUNK);
                if self.chunks.peek(&key).await.is_some() {
                    version = cursor.version;
                }
            }
        }
        // The first chunk knows the total: a (forged) offset past it computes
        // no chunk of its own.
        let total = self.chunk(shelf, sort, version, 0).await?.total;
        let mut products = Vec::new();
        while products.len() < limit && offset < total {
            let index = offset / CHUNK;
            let chunk = self.chunk(shelf, sort, version, index).await?;
            let start = offset % CHUNK;
            if start >= chunk.products.len() {
                break;
            }
            let take = (limit - products.len()).min(chunk.products.len() - start);
            products.extend_from_slice(&chunk.products[start..start + take]);
            offset += take;
        }
        let next = (offset < total).then(|| ListingCursor {
            shelf: shelf.key().to_string(),
            sort,
            version,
            offset,
        });
        Ok(ListingPage { products, next })
    }

    async fn chunk(
        &self,
        shelf: &Shelf,
        sort: Sort,
        version: u64,
        index: usize,
    ) -> Result<Chunk, Arc<StoreError>> {
        let key = chunk_key(shelf, sort, version, index);
        self.chunks
            .get_or_load(&key, || self.compute(shelf, sort, version, index))
            .await
    }

    /// Reads the whole listing from the source, sorts it, keeps its other
    /// chunks in the L2 for the pages after, and answers chunk `index`.
    async fn compute(
        &self,
        shelf: &Shelf,
        sort: Sort,
        version: u64,
        index: usize,
    ) -> Result<Chunk, StoreError> {
        let mut products = self.store.listing(shelf).await?;
        sort.sort(&mut products);
        let total = products.len();
        let chunks: Vec<Chunk> = products
            .chunks(CHUNK)
            .map(|part| Chunk {
                total,
                products: part.to_vec(),
            })
            .collect();
        for (other, chunk) in chunks.iter().enumerate() {
            if other != index {
                self.chunks
                    .store(&chunk_key(shelf, sort, version, other), chunk)
                    .await;
            }
        }
        Ok(chunks.into_iter().nth(index).unwrap_or(Chunk {
            total,
            products: Vec::new(),
        }))
    }
}

/// The cache key of chunk `index` of a listing version.
fn chunk_key(shelf: &Shelf, sort: Sort, version: u64, index: usize) -> String {
    format!(
        "listing#{}#{}#v{version}#{index}",
        shelf.key(),
        sort.as_str()
    )
}

/// The shelf of a `?category=` (none: everything).
pub fn shelf_of(category: Option<Category>) -> Shelf {
    category.map_or(Shelf::All, Shelf::Category)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_for_its_own_listing_only() {
        let shelf = Shelf::Category(Category::parse("kitchen").unwrap());
        let cursor = ListingCursor {
            shelf: "kitchen".into(),
            sort: Sort::Price,
            version: 7,
            offset: 20,
        };
        let raw = cursor.encode();
        assert_eq!(
            ListingCursor::decode(&raw, &shelf, Sort::Price),
            Some(cursor)
        );
        assert_eq!(ListingCursor::decode(&raw, &shelf, Sort::Name), None);
        assert_eq!(ListingCursor::decode(&raw, &Shelf::All, Sort::Price), None);
        for forged in [
            "",
            "x",
            "!!",
            &URL_SAFE_NO_PAD.encode("p1|price|kitchen|x|1"),
        ] {
            assert_eq!(ListingCursor::decode(forged, &shelf, Sort::Price), None);
        }
    }
}
