//! The one source of randomness the lab uses: SplitMix64 as a counter-based hash (the same
//! input gives the same bits on every machine), seeding Xoshiro256++ streams where a sequence
//! is needed. Every output records the seed it came from.

/// SplitMix64 (Steele, Lea, Flood 2014): a well-mixed 64-bit hash, used as a counter-based RNG.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    /// The published SplitMix64 sequence from seed 0 (the generator's state advances by the
    /// golden-ratio constant; each output is the hash of the state).
    #[test]
    fn matches_the_reference_sequence() {
        let mut state = 0u64;
        let mut next = || {
            let out = super::splitmix64(state);
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            out
        };
        assert_eq!(next(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(next(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(next(), 0x06C4_5D18_8009_454F);
    }
}
