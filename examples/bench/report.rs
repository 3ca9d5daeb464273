//! One line per figure: what was measured, against what, the ratio, the target, PASS or MISS.

use std::fmt;
use std::time::Duration;

/// Which way a ratio must go to meet its target.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// measured / baseline must be at most this.
    AtMost(f64),
    /// baseline / measured (a speed-up) must be at least this.
    AtLeast(f64),
    /// Reported for information; the issue sets no target.
    None,
}

/// One row of the table.
#[derive(Debug)]
pub struct Figure {
    pub what: String,
    pub measured: String,
    pub against: String,
    pub ratio: f64,
    /// What the ratio is counted in: `×` for ratios, `MiB` for memory.
    pub unit: &'static str,
    pub target: Target,
    /// A condition besides the ratio (e.g. "no row rewritten"); `Err` says what failed.
    pub condition: Result<(), String>,
}

impl Figure {
    /// `measured` against `baseline`, ratio measured / baseline, which must stay at most `max`.
    pub fn at_most(what: impl Into<String>, measured: Timed, baseline: Timed, max: f64) -> Self {
        Self {
            what: what.into(),
            ratio: ratio(measured.took, baseline.took),
            measured: measured.to_string(),
            against: baseline.to_string(),
            unit: "×",
            target: Target::AtMost(max),
            condition: Ok(()),
        }
    }

    /// A speed-up: `baseline` / `measured` must be at least `min`.
    pub fn speedup(what: impl Into<String>, measured: Timed, baseline: Timed, min: f64) -> Self {
        Self {
            what: what.into(),
            ratio: ratio(baseline.took, measured.took),
            measured: measured.to_string(),
            against: baseline.to_string(),
            unit: "×",
            target: Target::AtLeast(min),
            condition: Ok(()),
        }
    }

    /// A figure with no target, reported beside one that has one.
    pub fn report(what: impl Into<String>, measured: Timed, baseline: Timed) -> Self {
        Self {
            what: what.into(),
            ratio: ratio(measured.took, baseline.took),
            measured: measured.to_string(),
            against: baseline.to_string(),
            unit: "×",
            target: Target::None,
            condition: Ok(()),
        }
    }

    /// A quantity in `unit` (not a ratio) that must stay at most `max`.
    pub fn limit(
        what: impl Into<String>,
        measured: String,
        against: String,
        value: f64,
        max: f64,
        unit: &'static str,
    ) -> Self {
        Self {
            what: what.into(),
            measured,
            against,
            ratio: value,
            unit,
            target: Target::AtMost(max),
            condition: Ok(()),
        }
    }

    /// The figure passes only if `condition` holds too.
    pub fn requiring(mut self, condition: Result<(), String>) -> Self {
        self.condition = condition;
        self
    }

    pub fn passed(&self) -> bool {
        let within = match self.target {
            Target::AtMost(max) => self.ratio <= max,
            Target::AtLeast(min) => self.ratio >= min,
            Target::None => true,
        };
        within && self.condition.is_ok()
    }

    fn verdict(&self) -> String {
        match (&self.condition, self.passed()) {
            (Err(why), _) => format!("MISS ({why})"),
            (Ok(()), true) if matches!(self.target, Target::None) => "info".to_owned(),
            (Ok(()), true) => "PASS".to_owned(),
            (Ok(()), false) => "MISS".to_owned(),
        }
    }

    /// The figure as a row of the markdown table in docs/benchmarks.md.
    pub fn markdown_row(&self) -> String {
        format!(
            "| {} | {} | {} | {:.2} {} | {} | {} |",
            self.what,
            self.measured,
            self.against,
            self.ratio,
            self.unit,
            self.target.describe(self.unit),
            self.verdict()
        )
    }
}

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} vs {} → {:.2} {} (target {}) {}",
            self.what,
            self.measured,
            self.against,
            self.ratio,
            self.unit,
            self.target.describe(self.unit),
            self.verdict()
        )
    }
}

impl Target {
    fn describe(self, unit: &str) -> String {
        match self {
            Target::AtMost(max) => format!("≤ {max} {unit}"),
            Target::AtLeast(min) => format!("≥ {min} {unit} faster"),
            Target::None => "none".to_owned(),
        }
    }
}

/// A labelled duration.
#[derive(Clone, Debug)]
pub struct Timed {
    pub label: String,
    pub took: Duration,
}

impl Timed {
    pub fn new(label: impl Into<String>, took: Duration) -> Self {
        Self {
            label: label.into(),
            took,
        }
    }
}

impl fmt::Display for Timed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.label, human(self.took))
    }
}

/// 1.23 s, 45.6 ms or 78.9 µs.
pub fn human(took: Duration) -> String {
    let seconds = took.as_secs_f64();
    if seconds >= 1.0 {
        format!("{seconds:.2} s")
    } else if seconds >= 1e-3 {
        format!("{:.1} ms", seconds * 1e3)
    } else {
        format!("{:.1} µs", seconds * 1e6)
    }
}

fn ratio(numerator: Duration, denominator: Duration) -> f64 {
    numerator.as_secs_f64() / denominator.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// The `q`-quantile (0..=1) of `samples`, nearest rank; sorts them.
pub fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort_unstable();
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}
