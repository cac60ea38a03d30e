//! Closed-form test error (theory.md section 2): for a fresh sample of cluster `c`,
//! `h | c ~ N(c m, Delta (m^2 + q))`.

use crate::config::{Activation, Config};

/// The standard normal CDF `Phi(x)`.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// `P(h <= a)` for `h ~ N(mean, sd^2)`, also for `sd = 0`.
fn prob_below(a: f64, mean: f64, sd: f64) -> f64 {
    if sd > 0.0 {
        normal_cdf((a - mean) / sd)
    } else if mean <= a {
        1.0
    } else {
        0.0
    }
}

/// `e_test = sum_c P(c) P(y(c) o(h) <= 0 | c)` given the order parameters `m`, `q`.
pub fn test_error(cfg: &Config, m: f64, q: f64) -> f64 {
    let sd = (cfg.delta * (m * m + q).max(0.0)).sqrt();
    let mut e = 0.0;
    for (c, p, y) in cfg.clusters.table() {
        let mean = c * m;
        let wrong = match cfg.activation() {
            // y o <= 0  <=>  y h <= 0.
            Activation::Linear => {
                if y > 0.0 {
                    prob_below(0.0, mean, sd)
                } else {
                    prob_below(0.0, -mean, sd)
                }
            }
            // o = h^2 - theta: inside the door |h| < sqrt(theta) the output is negative.
            Activation::Door { threshold } => {
                let r = threshold.sqrt();
                let below = prob_below(-r, mean, sd);
                let above = prob_below(-r, -mean, sd);
                if y > 0.0 {
                    1.0 - below - above
                } else {
                    below + above
                }
            }
        };
        e += p * wrong;
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Clusters;

    #[test]
    fn normal_cdf_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-16);
        assert!((normal_cdf(1.0) - 0.841_344_746_068_542_9).abs() < 1e-15);
        assert!((normal_cdf(-3.0) - 0.001_349_898_031_630_094_6).abs() < 1e-17);
    }

    #[test]
    fn two_cluster_linear_matches_the_closed_form() {
        let cfg = Config::default();
        let (m, q) = (0.8, 0.5);
        let expected = normal_cdf(-m / (cfg.delta * (m * m + q)).sqrt());
        assert!((test_error(&cfg, m, q) - expected).abs() < 1e-15);
        assert!((test_error(&cfg, 0.0, 1.0) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn three_cluster_door_matches_the_closed_form() {
        let rho = 0.3;
        let l: f64 = 1.5;
        let cfg = Config {
            clusters: Clusters::Three { rho },
            activation: Some(Activation::Door { threshold: l }),
            ..Config::default()
        };
        let (m, q) = (1.2, 0.4);
        let sd = (cfg.delta * (m * m + q)).sqrt();
        let inside =
            |mean: f64| normal_cdf((l.sqrt() - mean) / sd) - normal_cdf((-l.sqrt() - mean) / sd);
        let expected = rho * inside(m) + (1.0 - rho) * (1.0 - inside(0.0));
        assert!((test_error(&cfg, m, q) - expected).abs() < 1e-14);
    }
}
