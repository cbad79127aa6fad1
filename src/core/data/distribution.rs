//! Random operands: a distribution, optionally made sparse, with outliers on top.
//! Sampling uses Xoshiro256++ (portable: the same seed gives the same matrix on every
//! platform), seeded from the scenario seed and the operand's name.

use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution as _, Exp1, LogNormal, Normal, StudentT};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Serialize;

use crate::core::error::{Error, Result};
use crate::core::matrix::Matrix;
use crate::core::rng::splitmix64;

/// Sign of log-normal samples (which are positive by nature).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sign {
    Positive,
    Negative,
    /// Each sample gets a random sign.
    Random,
}

/// The element distribution of a generated operand.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "dist", rename_all = "snake_case")]
pub enum Distribution {
    Normal {
        mean: f64,
        std: f64,
    },
    Uniform {
        low: f64,
        high: f64,
    },
    Laplace {
        mean: f64,
        scale: f64,
    },
    /// Student's t with `nu` degrees of freedom, times `scale`: heavy tails for small nu.
    StudentT {
        nu: f64,
        scale: f64,
    },
    /// exp(N(mu, sigma²)), with a sign.
    LogNormal {
        mu: f64,
        sigma: f64,
        sign: Sign,
    },
    /// Two normal components N(`means[i]`, std²), the first with probability `weight`.
    Bimodal {
        means: [f64; 2],
        std: f64,
        weight: f64,
    },
    Constant {
        value: f64,
    },
}

impl Distribution {
    pub fn name(&self) -> &'static str {
        match self {
            Distribution::Normal { .. } => "normal",
            Distribution::Uniform { .. } => "uniform",
            Distribution::Laplace { .. } => "laplace",
            Distribution::StudentT { .. } => "student_t",
            Distribution::LogNormal { .. } => "lognormal",
            Distribution::Bimodal { .. } => "bimodal",
            Distribution::Constant { .. } => "constant",
        }
    }

    /// A short human description, e.g. `normal(0, 0.02)`.
    pub fn describe(&self) -> String {
        match *self {
            Distribution::Normal { mean, std } => {
                format!("normal(mean {}, std {})", num(mean), num(std))
            }
            Distribution::Uniform { low, high } => format!("uniform[{}, {})", num(low), num(high)),
            Distribution::Laplace { mean, scale } => {
                format!("laplace(mean {}, scale {})", num(mean), num(scale))
            }
            Distribution::StudentT { nu, scale } => {
                format!("student_t(nu {}, scale {})", num(nu), num(scale))
            }
            Distribution::LogNormal { mu, sigma, sign } => format!(
                "lognormal(mu {}, sigma {}, {sign:?} sign)",
                num(mu),
                num(sigma)
            )
            .to_lowercase(),
            Distribution::Bimodal { means, std, weight } => format!(
                "bimodal(means {} / {}, std {}, weight {})",
                num(means[0]),
                num(means[1]),
                num(std),
                num(weight)
            ),
            Distribution::Constant { value } => format!("constant({})", num(value)),
        }
    }

    /// Checks every parameter's range; `field` prefixes the message (e.g. `w`).
    pub fn validate(&self, field: &str) -> Result<()> {
        let positive = |name: &str, v: f64| -> Result<()> {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(Error::Invalid(format!(
                    "{field}.{name} = {v} is invalid; expected a finite number > 0"
                )))
            }
        };
        let finite = |name: &str, v: f64| -> Result<()> {
            if v.is_finite() {
                Ok(())
            } else {
                Err(Error::Invalid(format!(
                    "{field}.{name} = {v} is invalid; expected a finite number"
                )))
            }
        };
        match *self {
            Distribution::Normal { mean, std } => {
                finite("mean", mean)?;
                positive("std", std)
            }
            Distribution::Uniform { low, high } => {
                finite("low", low)?;
                finite("high", high)?;
                if low < high {
                    Ok(())
                } else {
                    Err(Error::Invalid(format!(
                        "{field}: uniform needs low < high; got low = {low}, high = {high}"
                    )))
                }
            }
            Distribution::Laplace { mean, scale } => {
                finite("mean", mean)?;
                positive("scale", scale)
            }
            Distribution::StudentT { nu, scale } => {
                positive("nu", nu)?;
                positive("scale", scale)
            }
            Distribution::LogNormal { mu, sigma, .. } => {
                finite("mu", mu)?;
                positive("sigma", sigma)
            }
            Distribution::Bimodal { means, std, weight } => {
                finite("means[0]", means[0])?;
                finite("means[1]", means[1])?;
                positive("std", std)?;
                fraction(field, "weight", weight)
            }
            Distribution::Constant { value } => finite("value", value),
        }
    }

    fn sample(&self, rng: &mut Xoshiro256PlusPlus) -> f64 {
        match *self {
            Distribution::Normal { mean, std } => {
                let z: f64 = rand_distr::StandardNormal.sample(rng);
                mean + std * z
            }
            Distribution::Uniform { low, high } => low + (high - low) * rng.random::<f64>(),
            Distribution::Laplace { mean, scale } => {
                let e: f64 = Exp1.sample(rng);
                mean + if rng.random_bool(0.5) {
                    scale * e
                } else {
                    -scale * e
                }
            }
            Distribution::StudentT { nu, scale } => {
                scale * StudentT::new(nu).expect("validated").sample(rng)
            }
            Distribution::LogNormal { mu, sigma, sign } => {
                let v = LogNormal::new(mu, sigma).expect("validated").sample(rng);
                match sign {
                    Sign::Positive => v,
                    Sign::Negative => -v,
                    Sign::Random => {
                        if rng.random_bool(0.5) {
                            v
                        } else {
                            -v
                        }
                    }
                }
            }
            Distribution::Bimodal { means, std, weight } => {
                let i = usize::from(rng.random::<f64>() >= weight);
                Normal::new(means[i], std).expect("validated").sample(rng)
            }
            Distribution::Constant { value } => value,
        }
    }
}

/// Checks that `v` lies in [0, 1].
pub fn fraction(field: &str, name: &str, v: f64) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{field}.{name} = {v} is invalid; expected a fraction in [0, 1]"
        )))
    }
}

/// Scattered outliers: each element, with probability `fraction`, is multiplied by `multiplier`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScatteredOutliers {
    pub fraction: f64,
    pub multiplier: f64,
}

/// Which axis outlier channels run across.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelAxis {
    /// Channels indexed by K: rows of x (the hidden features that carry LLM activation
    /// outliers, columns of PyTorch's tokens × features activations), columns of W.
    K,
    /// Channels indexed by the outer dimension: rows of W (output channels), columns of x
    /// (tokens).
    Outer,
}

/// Whole channels scaled by `factor`: `count` of them, chosen at random.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChannelOutliers {
    pub count: usize,
    pub factor: f64,
    pub axis: ChannelAxis,
}

/// Every channel multiplied by 10^u, u uniform in [−decades/2, decades/2]: magnitudes that
/// differ from channel to channel (rows of a weight matrix, tokens of an activation).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChannelSpread {
    pub decades: f64,
    pub axis: ChannelAxis,
}

/// Post-processing applied to any operand: channel spread, sparsity, then outliers.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Modifiers {
    pub channel_spread: Option<ChannelSpread>,
    /// Fraction of elements set to exactly zero.
    pub sparsity: f64,
    pub outliers: Option<ScatteredOutliers>,
    pub outlier_channels: Option<ChannelOutliers>,
}

impl Modifiers {
    pub fn is_empty(&self) -> bool {
        self == &Modifiers::default()
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.channel_spread {
            parts.push(format!(
                "channels along {} spread over {} decades",
                axis_name(c.axis),
                c.decades
            ));
        }
        if self.sparsity > 0.0 {
            parts.push(format!("{}% zeros", self.sparsity * 100.0));
        }
        if let Some(o) = &self.outliers {
            parts.push(format!(
                "{}% outliers ×{}",
                o.fraction * 100.0,
                num(o.multiplier)
            ));
        }
        if let Some(c) = &self.outlier_channels {
            // "4 channels along K", never "4 K channels" (which reads as 4000).
            parts.push(format!(
                "{} channel{} along {} ×{}",
                c.count,
                if c.count == 1 { "" } else { "s" },
                axis_name(c.axis),
                num(c.factor)
            ));
        }
        parts.join(", ")
    }

    pub fn validate(&self, field: &str) -> Result<()> {
        if let Some(c) = &self.channel_spread
            && !(c.decades >= 0.0 && c.decades <= 30.0)
        {
            return Err(Error::Invalid(format!(
                "{field}.channel_spread.decades = {} is invalid; expected a number in [0, 30]",
                c.decades
            )));
        }
        fraction(field, "sparsity", self.sparsity)?;
        if let Some(o) = &self.outliers {
            fraction(field, "outliers.fraction", o.fraction)?;
            if !o.multiplier.is_finite() {
                return Err(Error::Invalid(format!(
                    "{field}.outliers.multiplier = {} is invalid; expected a finite number",
                    o.multiplier
                )));
            }
        }
        if let Some(c) = &self.outlier_channels
            && !c.factor.is_finite()
        {
            return Err(Error::Invalid(format!(
                "{field}.outlier_channels.factor = {} is invalid; expected a finite number",
                c.factor
            )));
        }
        Ok(())
    }

    /// Applies the modifiers to `m`, which plays `role` ('w' is M × K, 'x' is K × N).
    pub fn apply(&self, m: &mut Matrix, role: Role, seed: u64) -> Result<()> {
        let mut rng = rng_for(seed, role, 1);
        let (rows, cols) = m.shape();
        let mut data = std::mem::replace(m, Matrix::zeros(0, 0)).into_data();
        // W is M × K, x is K × N: the K axis is columns of W and rows of x.
        let by_row = |axis| {
            matches!(
                (role, axis),
                (Role::W, ChannelAxis::Outer) | (Role::X, ChannelAxis::K)
            )
        };
        if let Some(c) = &self.channel_spread {
            let rows_are_channels = by_row(c.axis);
            let channels = if rows_are_channels { rows } else { cols };
            let factors: Vec<f64> = (0..channels)
                .map(|_| 10f64.powf(c.decades * (rng.random::<f64>() - 0.5)))
                .collect();
            for (i, v) in data.iter_mut().enumerate() {
                let ch = if rows_are_channels {
                    i / cols
                } else {
                    i % cols
                };
                *v = (f64::from(*v) * factors[ch]) as f32;
            }
        }
        if self.sparsity > 0.0 {
            for v in &mut data {
                if rng.random::<f64>() < self.sparsity {
                    *v = 0.0;
                }
            }
        }
        if let Some(o) = &self.outliers {
            for v in &mut data {
                if rng.random::<f64>() < o.fraction {
                    *v = (f64::from(*v) * o.multiplier) as f32;
                }
            }
        }
        if let Some(c) = &self.outlier_channels {
            let by_row = by_row(c.axis);
            let channels = if by_row { rows } else { cols };
            if c.count > channels {
                return Err(Error::Invalid(format!(
                    "{}.outlier_channels.count = {} exceeds the {channels} channels available",
                    role.name(),
                    c.count
                )));
            }
            let mut idx: Vec<usize> = (0..channels).collect();
            for i in 0..c.count {
                let j = rng.random_range(i..channels);
                idx.swap(i, j);
            }
            let scale = |v: &mut f32| *v = (f64::from(*v) * c.factor) as f32;
            for &ch in &idx[..c.count] {
                if by_row {
                    data[ch * cols..(ch + 1) * cols].iter_mut().for_each(scale);
                } else {
                    (0..rows).for_each(|r| scale(&mut data[r * cols + ch]));
                }
            }
        }
        *m = Matrix::new(rows, cols, data)?;
        Ok(())
    }
}

fn axis_name(axis: ChannelAxis) -> &'static str {
    match axis {
        ChannelAxis::K => "K",
        ChannelAxis::Outer => "the outer axis",
    }
}

/// Which operand a matrix is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    W,
    X,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::W => "w",
            Role::X => "x",
        }
    }
}

/// An independent stream per (seed, operand, purpose), so that changing x's distribution
/// leaves W's samples unchanged.
fn rng_for(seed: u64, role: Role, purpose: u64) -> Xoshiro256PlusPlus {
    let tag = match role {
        Role::W => 0x5757,
        Role::X => 0x5858,
    };
    Xoshiro256PlusPlus::seed_from_u64(splitmix64(seed ^ splitmix64(tag + purpose)))
}

/// Samples a `rows × cols` matrix.
pub fn sample(dist: &Distribution, rows: usize, cols: usize, role: Role, seed: u64) -> Matrix {
    let mut rng = rng_for(seed, role, 0);
    let data = (0..rows * cols)
        .map(|_| dist.sample(&mut rng) as f32)
        .collect();
    Matrix::new(rows, cols, data).expect("rows · cols values")
}

/// A parameter for a description: as written for everyday values, in exponent form for the
/// extreme ones (1e300 would otherwise print as 301 digits).
fn num(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-6..1e16).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}
