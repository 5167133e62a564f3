//! A Bloom filter that grows: "certainly never added" or "perhaps added", for any number of
//! keys, in one cache line per layer and lookup.
//!
//! Each key sets one bit in each of the eight 32-bit words of one 256-bit block, so a lookup
//! reads a single cache line. A layer is sized for a planned number of keys at
//! [`BITS_PER_KEY`]; once it holds that many, a layer twice as large, and with
//! [`MORE_BITS_PER_LAYER`] more bits per key, takes the new keys: each layer adds about half the
//! false positives of the one before, so the rate stays near 2 % however far the keys outgrow
//! the plan.
//! Keys come as 64-bit hashes: the high half picks the block, the low half the bits.

/// About 1 % false positives at the planned count.
const BITS_PER_KEY: usize = 10;
const MORE_BITS_PER_LAYER: usize = 2;
const BLOCK_BITS: usize = 256;

/// Odd multipliers, one per word of a block, that spread the key's low half over the 32 bits
/// of each word independently enough.
const SPREAD: [u32; 8] = [
    0x9e37_79b1,
    0x85eb_ca77,
    0xc2b2_ae3d,
    0x27d4_eb2f,
    0x1656_67b1,
    0xd3a2_646d,
    0xfd70_46c5,
    0xb553_4f3b,
];

type Block = [u32; 8];

struct Layer {
    blocks: Box<[Block]>,
    planned: usize,
    held: usize,
}

impl Layer {
    fn planned_for(keys: usize, bits_per_key: usize) -> Layer {
        let keys = keys.max(1);
        let blocks = (keys * bits_per_key).div_ceil(BLOCK_BITS);
        Layer {
            blocks: vec![[0; 8]; blocks].into_boxed_slice(),
            planned: keys,
            held: 0,
        }
    }

    fn block_of(&self, hash: u64) -> usize {
        // The high half scaled onto the blocks: uniform without a division.
        (((hash >> 32) * self.blocks.len() as u64) >> 32) as usize
    }

    fn add(&mut self, hash: u64) {
        let at = self.block_of(hash);
        let block = &mut self.blocks[at];
        for (word, bit) in block.iter_mut().zip(bits(hash)) {
            *word |= bit;
        }
        self.held += 1;
    }

    fn may_hold(&self, hash: u64) -> bool {
        let block = &self.blocks[self.block_of(hash)];
        block
            .iter()
            .zip(bits(hash))
            .all(|(word, bit)| word & bit != 0)
    }
}

/// The bit a key sets in each word of its block.
fn bits(hash: u64) -> impl Iterator<Item = u32> {
    let low = hash as u32;
    SPREAD
        .into_iter()
        .map(move |spread| 1 << (low.wrapping_mul(spread) >> 27))
}

pub(super) struct GrowingBloom {
    layers: Vec<Layer>,
}

impl GrowingBloom {
    /// A filter sized for `planned` keys before its first growth.
    pub fn planned_for(planned: usize) -> GrowingBloom {
        GrowingBloom {
            layers: vec![Layer::planned_for(planned, BITS_PER_KEY)],
        }
    }

    pub fn add(&mut self, hash: u64) {
        let full = self.layers.last().is_none_or(|l| l.held >= l.planned);
        if full {
            let next = self.layers.last().map_or(1, |l| l.planned * 2);
            let bits = BITS_PER_KEY + MORE_BITS_PER_LAYER * self.layers.len();
            self.layers.push(Layer::planned_for(next, bits));
        }
        if let Some(layer) = self.layers.last_mut() {
            layer.add(hash);
        }
    }

    /// False only for a key never added.
    pub fn may_hold(&self, hash: u64) -> bool {
        self.layers.iter().any(|layer| layer.may_hold(hash))
    }

    /// Bytes held by the filter's bits.
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| std::mem::size_of_val(&*l.blocks))
            .sum()
    }

    #[cfg(test)]
    fn layers(&self) -> usize {
        self.layers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-mixed stand-in for a key's hash (splitmix64).
    fn hash(n: u64) -> u64 {
        let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn false_positive_rate(filter: &GrowingBloom, probes: std::ops::Range<u64>) -> f64 {
        let len = probes.end - probes.start;
        let hits = probes.filter(|&n| filter.may_hold(hash(n))).count();
        hits as f64 / len as f64
    }

    #[test]
    fn every_added_key_is_perhaps_held() {
        let mut filter = GrowingBloom::planned_for(1_000);
        for n in 0..50_000 {
            filter.add(hash(n));
        }
        assert!((0..50_000).all(|n| filter.may_hold(hash(n))));
    }

    #[test]
    fn an_empty_filter_holds_nothing() {
        let filter = GrowingBloom::planned_for(1_000);
        assert_eq!(false_positive_rate(&filter, 0..10_000), 0.0);
    }

    #[test]
    fn at_the_planned_count_about_one_key_in_a_hundred_is_a_false_positive() {
        let mut filter = GrowingBloom::planned_for(100_000);
        for n in 0..100_000 {
            filter.add(hash(n));
        }
        assert_eq!(filter.layers(), 1);
        let rate = false_positive_rate(&filter, 1_000_000..1_200_000);
        assert!(rate < 0.02, "false positive rate {rate}");
        assert!(rate > 0.001, "suspiciously few false positives: {rate}");
    }

    #[test]
    fn outgrowing_the_plan_adds_layers_and_keeps_false_positives_rare() {
        let mut filter = GrowingBloom::planned_for(1_000);
        for n in 0..64_000 {
            filter.add(hash(n));
        }
        // 1,000 + 2,000 + ... + 64,000 planned.
        assert_eq!(filter.layers(), 7);
        let rate = false_positive_rate(&filter, 1_000_000..1_200_000);
        assert!(rate < 0.03, "false positive rate {rate}");
    }

    #[test]
    fn a_layer_takes_ten_bits_per_planned_key() {
        let filter = GrowingBloom::planned_for(1 << 20);
        assert_eq!(filter.bytes(), (1 << 20) * 10 / 8);
    }
}
