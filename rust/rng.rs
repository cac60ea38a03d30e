//! Random streams. Every stream is derived from (seed, domain, index), never from the
//! thread that happens to run the task, so results do not depend on the thread count.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// What a stream is used for; keeps the streams of different jobs apart for one seed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Domain {
    /// One stream per replica of the finite-d ensemble.
    Replica = 1,
    /// The mini-batch chain of `sgd_trajectory` on user data.
    UserBatches = 2,
    /// One stream per chunk of DMFT samples (and per iteration of the iterative solver).
    DmftChunk = 3,
    /// The probe signs of one chunk of DMFT samples (response estimator "probe").
    DmftProbe = 4,
    /// One stream of Langevin increments per replica of the finite-d ensemble.
    Langevin = 5,
    /// The Langevin increments of `sgd_trajectory` on user data.
    UserLangevin = 6,
    /// The own draws of a chunk of a coarser level of a DMFT ladder, after the static
    /// ones it shares with the finest level (`rust/dmft/ladder.rs`).
    LadderStep = 7,
    /// The probe signs of a chunk of a coarser level of a DMFT ladder.
    LadderProbe = 8,
    /// One stream per replica of the network ensemble (`rust/network.rs`).
    NetworkReplica = 9,
    /// The Langevin increments of one replica of the network ensemble.
    NetworkLangevin = 10,
    /// The test draws of one replica of the network ensemble.
    NetworkTest = 11,
    /// The effective samples of one group of the network DMFT.
    NetworkDmft = 12,
    /// The batch chains of one group of the network DMFT.
    NetworkDmftBatches = 13,
    /// The test draws of one group of the network DMFT.
    NetworkDmftTest = 14,
    /// The random field of each replica's twin run (`simulate`'s two-time response).
    TwoTimeField = 15,
    /// The random fields of each network replica's twin run (its two-time response).
    NetworkTwoTimeField = 16,
}

/// The independent ChaCha8 stream number `index` of `domain` for `seed`.
pub(crate) fn stream(seed: u64, domain: Domain, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // 2^56 indices per domain are more than any run will use.
    rng.set_stream(((domain as u64) << 56) | (index & ((1 << 56) - 1)));
    rng
}
