//! The seed document's INT8 and MXFP4 examples, replayed step by step with the library's own
//! quantizers and kernels, beside the figures the document prints (DESIGN §3).
//!
//! The document's matrices were lost in extraction; its integers pin them down as
//! W = [[0.7, −0.2], [−0.5, 0.1]], x = [0.8, 0.6]. Two modes:
//! - document: what the document did (floor rounding for INT8; one block for the whole W,
//!   with a factor 4 moved from the elements into the scale for MXFP4);
//! - spec: standard practice (round-half-even INT8; OCP MX blocks along K).

use crate::core::format::{BlockSize, Int8Config, Int8Matrix, MxConfig, MxMatrix, e2m1, e8m0, mx};
use crate::core::format::{Granularity, Rounding, ScaleRule, Scheme};
use crate::core::kernel::{Accumulator, int8, mxfp4, reference};
use crate::core::matrix::Matrix;

/// The seed's W (2 × 2).
pub const SEED_W: [[f32; 2]; 2] = [[0.7, -0.2], [-0.5, 0.1]];
/// The seed's x (a 2-vector).
pub const SEED_X: [f32; 2] = [0.8, 0.6];

/// Figures the document prints, transcribed from its text.
mod document {
    pub const TRUE_RESULT: [f64; 2] = [0.44, -0.34];
    pub const W_SCALE: f64 = 0.0047;
    pub const X_SCALE: f64 = 0.0063;
    pub const W_ZERO_POINT: i32 = -21;
    pub const QW: [i8; 4] = [127, -64, -128, 0];
    pub const QX: [i8; 2] = [127, 95];
    pub const ACC: [i64; 2] = [10049, -16256];
    pub const CORRECTION: i64 = 4662;
    pub const CORRECTED: [i64; 2] = [14711, -11594];
    pub const INT8_RESULT: [f64; 2] = [0.434, -0.342];
    pub const MX_SCALE: f64 = 0.5;
    pub const MX_W: [f64; 4] = [1.5, -0.375, -1.0, 0.25];
    pub const MX_X: [f64; 2] = [1.5, 1.0];
    pub const MX_INTERMEDIATE: [f64; 2] = [1.875, -1.25];
    pub const MX_RESULT: [f64; 2] = [0.46875, -0.3125];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Document,
    Spec,
    Both,
}

impl std::str::FromStr for Mode {
    type Err = crate::core::error::Error;
    fn from_str(s: &str) -> crate::core::error::Result<Self> {
        match s {
            "document" => Ok(Mode::Document),
            "spec" => Ok(Mode::Spec),
            "both" => Ok(Mode::Both),
            _ => Err(crate::core::error::Error::Invalid(format!(
                "unknown walkthrough mode '{}'; expected document, spec or both",
                crate::core::text::echo(s)
            ))),
        }
    }
}

/// A computed figure beside the document's printed one.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub what: String,
    pub computed: String,
    pub document: String,
    pub agrees: bool,
    /// The factor the two agree up to (`×4`), when they are the same numbers written with
    /// a factor moved elsewhere: shown as ≈ rather than ✓.
    pub up_to: Option<&'static str>,
}

impl Check {
    /// ✓ equal, ≈ equal up to a stated factor, ≠ different.
    pub fn mark(&self) -> &'static str {
        match (self.agrees, self.up_to) {
            (true, None) => "✓",
            (true, Some(_)) => "≈",
            (false, _) => "≠",
        }
    }

    /// The document's figure, with the factor when there is one.
    pub fn document_text(&self) -> String {
        match self.up_to {
            Some(f) if self.agrees => format!("{} ({f})", self.document),
            _ => self.document.clone(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Step {
    pub title: String,
    pub lines: Vec<String>,
    pub checks: Vec<Check>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub title: String,
    pub steps: Vec<Step>,
}

/// Every number of the walkthrough that a test or a front-end may want, computed.
#[derive(Clone, Debug, PartialEq)]
pub struct Results {
    pub reference: [f64; 2],
    pub int8_floor: [f32; 2],
    pub int8_half_even: [f32; 2],
    pub mxfp4: [f32; 2],
}

pub fn seed_w() -> Matrix {
    Matrix::from_rows(&SEED_W).expect("2 × 2")
}

pub fn seed_x() -> Matrix {
    Matrix::column(SEED_X.to_vec())
}

fn step(title: impl Into<String>) -> Step {
    Step {
        title: title.into(),
        ..Step::default()
    }
}

impl Step {
    fn line(&mut self, s: impl Into<String>) {
        self.lines.push(s.into());
    }

    /// The last check agrees only up to `factor` (the same numbers, a factor moved).
    fn up_to(&mut self, factor: &'static str) {
        if let Some(c) = self.checks.last_mut() {
            c.up_to = Some(factor);
        }
    }

    fn check(
        &mut self,
        what: &str,
        computed: impl Into<String>,
        document: impl Into<String>,
        agrees: bool,
    ) {
        self.checks.push(Check {
            what: what.into(),
            computed: computed.into(),
            document: document.into(),
            agrees,
            up_to: None,
        });
    }
}

/// Whether `v` rounds to the document's printed value at its printed number of decimals.
fn prints_as(v: f64, printed: f64, decimals: usize) -> bool {
    format!("{v:.decimals$}") == format!("{printed:.decimals$}")
}

fn pair(v: [f64; 2], decimals: usize) -> String {
    format!("({:.decimals$}, {:.decimals$})", v[0], v[1])
}

fn list<T: std::fmt::Display>(v: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = v.into_iter().map(|t| t.to_string()).collect();
    format!("[{}]", items.join(", "))
}

fn int8_config(scheme: Scheme, rounding: Rounding) -> Int8Config {
    Int8Config {
        scheme,
        granularity: Granularity::Tensor,
        rounding,
    }
}

struct Int8Run {
    w: Int8Matrix,
    x: Int8Matrix,
    cells: Vec<int8::Int8Cell>,
}

fn int8_run(rounding: Rounding) -> Int8Run {
    let w =
        Int8Matrix::quantize(&seed_w(), int8_config(Scheme::Asymmetric, rounding)).expect("finite");
    let x = Int8Matrix::quantize(
        &seed_x().transpose(),
        int8_config(Scheme::Symmetric, rounding),
    )
    .expect("finite");
    let cells = int8::gemm_cells(&w, &x);
    Int8Run { w, x, cells }
}

fn mx_run(block: BlockSize) -> (MxMatrix, MxMatrix, Vec<Vec<mxfp4::BlockTerm>>) {
    let config = MxConfig::new(block, ScaleRule::Floor);
    let w = MxMatrix::quantize(&seed_w(), config).expect("valid");
    let x = MxMatrix::quantize(&seed_x().transpose(), config).expect("valid");
    let terms = (0..2).map(|m| mxfp4::cell_terms(&w, &x, m, 0)).collect();
    (w, x, terms)
}

fn y_of(terms: &[Vec<mxfp4::BlockTerm>]) -> [f32; 2] {
    [0, 1].map(|m| mxfp4::accumulate(terms[m].iter().copied(), Accumulator::F32))
}

/// The computed results of every variant.
pub fn results() -> Results {
    let r = reference::gemm_f64(&seed_w(), &seed_x().transpose());
    let y = |run: Int8Run| [run.cells[0].y, run.cells[1].y];
    Results {
        reference: [r[0], r[1]],
        int8_floor: y(int8_run(Rounding::Floor)),
        int8_half_even: y(int8_run(Rounding::HalfEven)),
        mxfp4: y_of(&mx_run(BlockSize::DEFAULT).2),
    }
}

fn int8_section(mode: Mode) -> Section {
    let doc = mode == Mode::Document;
    let rounding = if doc {
        Rounding::Floor
    } else {
        Rounding::HalfEven
    };
    let run = int8_run(rounding);
    let (pw, px) = (run.w.params()[0], run.x.params()[0]);
    let rname = if doc { "floor" } else { "round-half-even" };
    let mut steps = Vec::new();

    let mut s = step("Initial state: FP32 values");
    s.line("W = [[0.7, -0.2], [-0.5, 0.1]]    x = [0.8, 0.6]");
    let r = reference::gemm_f64(&seed_w(), &seed_x().transpose());
    s.line(format!(
        "true result W·x (f64) = ({}, {})",
        r[0] as f32, r[1] as f32
    ));
    let agrees = prints_as(r[0], document::TRUE_RESULT[0], 2)
        && prints_as(r[1], document::TRUE_RESULT[1], 2);
    s.check(
        "true result",
        pair([r[0], r[1]], 2),
        pair(document::TRUE_RESULT, 2),
        agrees,
    );
    steps.push(s);

    let mut s = step("Step 1: quantize W to INT8 (asymmetric, per tensor)");
    s.line("range: max(0.7) - min(-0.5) = 1.2 (the range always includes 0)");
    s.line(format!("scale W = 1.2 / 255 = {} (f32)", pw.scale));
    s.check(
        "scale W",
        format!("{:.4}", pw.scale),
        format!("≈ {}", document::W_SCALE),
        prints_as(f64::from(pw.scale), document::W_SCALE, 4),
    );
    let q = -0.5f32 / pw.scale;
    s.line(format!(
        "zero-point = -128 - {rname}(-0.5 / scale) = -128 - {rname}({q}) = {}",
        pw.zero_point
    ));
    s.check(
        "zero-point",
        pw.zero_point.to_string(),
        document::W_ZERO_POINT.to_string(),
        pw.zero_point == document::W_ZERO_POINT,
    );
    s.line(format!(
        "q = clamp({rname}(value / scale) + zp, -128, 127):"
    ));
    for (i, v) in seed_w().data().iter().enumerate() {
        s.line(format!(
            "  {v:>4}: {rname}({}) {:+} = {}",
            v / pw.scale,
            pw.zero_point,
            run.w.codes()[i]
        ));
    }
    s.check(
        "W INT8",
        list(run.w.codes()),
        list(document::QW),
        run.w.codes() == document::QW,
    );
    steps.push(s);

    let mut s = step("Step 2: quantize x to INT8 (symmetric, zero-point 0)");
    s.line(format!(
        "range: max(abs(x)) = 0.8; scale x = 0.8 / 127 = {} (f32)",
        px.scale
    ));
    s.check(
        "scale x",
        format!("{:.4}", px.scale),
        format!("≈ {}", document::X_SCALE),
        prints_as(f64::from(px.scale), document::X_SCALE, 4),
    );
    for (i, v) in SEED_X.iter().enumerate() {
        s.line(format!(
            "  {v}: {rname}({}) = {}",
            v / px.scale,
            run.x.codes()[i]
        ));
    }
    s.check(
        "x INT8",
        list(run.x.codes()),
        list(document::QX),
        run.x.codes() == document::QX,
    );
    steps.push(s);

    let mut s = step("Step 3: integer multiplication (i8 × i8, accumulated in i32)");
    let (qw, qx) = (run.w.codes(), run.x.codes());
    for m in 0..2 {
        s.line(format!(
            "({} * {}) + ({} * {}) = {}",
            qw[2 * m],
            qx[0],
            qw[2 * m + 1],
            qx[1],
            run.cells[m].acc
        ));
    }
    let acc = [run.cells[0].acc, run.cells[1].acc];
    s.check(
        "INT32 result",
        list(acc),
        list(document::ACC),
        acc == document::ACC,
    );
    steps.push(s);

    let mut s = step("Step 4: zero-point correction, then de-quantize");
    let xsum: i64 = qx.iter().map(|&q| i64::from(q)).sum();
    s.line(format!(
        "correction = -zp_W · Σ qx = -({}) · ({} + {}) = {}",
        pw.zero_point, qx[0], qx[1], run.cells[0].correction
    ));
    debug_assert_eq!(run.cells[0].correction, -i64::from(pw.zero_point) * xsum);
    s.check(
        "correction",
        run.cells[0].correction.to_string(),
        document::CORRECTION.to_string(),
        run.cells[0].correction == document::CORRECTION,
    );
    let corrected = [run.cells[0].corrected, run.cells[1].corrected];
    s.line(format!("corrected = {}", list(corrected)));
    s.check(
        "corrected",
        list(corrected),
        list(document::CORRECTED),
        corrected == document::CORRECTED,
    );
    let y = [f64::from(run.cells[0].y), f64::from(run.cells[1].y)];
    s.line(format!(
        "y = corrected · (scale W · scale x) = corrected · {} = ({}, {})",
        run.cells[0].scale, run.cells[0].y, run.cells[1].y
    ));
    let agrees = prints_as(y[0], document::INT8_RESULT[0], 3)
        && prints_as(y[1], document::INT8_RESULT[1], 3);
    s.check(
        "INT8 result",
        pair(y, 4),
        pair(document::INT8_RESULT, 3),
        agrees,
    );
    if doc {
        let implied = document::INT8_RESULT[0] / document::CORRECTED[0] as f64;
        s.line(format!(
            "The integers agree exactly, the printed result does not: (0.434, -0.342) implies a \
             combined scale of about {implied:.3e}, not the exact {:.4e}. The document evidently \
             rounded its scales along the way (it writes ≈0.0047 and ≈0.0063).",
            run.cells[0].scale
        ));
    } else {
        s.line(
            "Round-half-even turns -106.25 into -106 where floor gave -107, so the zero-point is \
             -22, and 0.1 becomes 21 - 22 = -1 instead of 0: every integer from here on differs \
             from the document, and the result lands closer to the truth.",
        );
    }
    steps.push(s);

    let title = if doc {
        "INT8 walkthrough, as the document computes (floor rounding, exact f32 scales)"
    } else {
        "INT8 walkthrough, as standard practice computes (round-half-even, ONNX / PyTorch)"
    };
    Section {
        title: title.into(),
        steps,
    }
}

fn code_list(codes: &[u8]) -> String {
    list(codes.iter().map(|&c| format!("{c:#x}={}", e2m1::decode(c))))
}

fn on_grid(v: f64) -> bool {
    e2m1::VALUES.iter().any(|&g| f64::from(g) == v)
}

fn mx_section(mode: Mode) -> Section {
    let doc = mode == Mode::Document;
    let block = if doc {
        BlockSize::Tensor
    } else {
        BlockSize::DEFAULT
    };
    let (w, x, terms) = mx_run(block);
    let mut steps = Vec::new();

    let wb = w.scales()[0];
    let e = e8m0::exponent(wb).expect("finite");
    let mut s = step("Step 1: quantize W to MXFP4");
    if doc {
        s.line("the document treats the whole 2×2 W as one block: amax = 0.7");
    } else {
        s.line(
            "blocks of 32 run along K (here K = 2, one partial block per row of W); row amax 0.7 and 0.5",
        );
    }
    let (big_e, _) = mx::split_exponent(0.7);
    s.line(format!(
        "0.7 = 1.4 · 2^{big_e}; shared exponent e = {big_e} - 2 (E2M1's emax) = {e}; E8M0 byte {wb:#04x} = {e} + 127"
    ));
    s.line(format!("scale 2^{e} = {}", e8m0::to_f32(wb)));
    s.line(format!("elements P = RNE(value / 2^{e}) on the E2M1 grid:"));
    for (i, v) in seed_w().data().iter().enumerate() {
        let c = w.codes()[i];
        s.line(format!(
            "  {v:>4} / 2^{e} = {:<5} → code {c:#x} = {}",
            v * 2f32.powi(-e),
            e2m1::decode(c)
        ));
    }
    if !doc {
        s.line(format!(
            "scale bytes per row: {}",
            list(w.scales().iter().map(|b| format!("{b:#04x}")))
        ));
    }
    if doc {
        let quarter: Vec<f64> = w
            .codes()
            .iter()
            .map(|&c| f64::from(e2m1::decode(c)) / 4.0)
            .collect();
        let scale4 = e8m0::to_f64(wb) * 4.0;
        s.check(
            "shared scale",
            format!("2^{e} = {}", e8m0::to_f64(wb)),
            document::MX_SCALE.to_string(),
            scale4 == document::MX_SCALE,
        );
        s.up_to("×4");
        s.check(
            "W elements",
            list(w.codes().iter().map(|&c| e2m1::decode(c))),
            list(document::MX_W),
            quarter == document::MX_W,
        );
        s.up_to("÷4");
        let off: Vec<String> = document::MX_W
            .iter()
            .filter(|&&v| !on_grid(v))
            .map(std::string::ToString::to_string)
            .collect();
        s.line(format!(
            "The document writes scale {} and elements {}: the same numbers with a factor 4 moved \
             from the elements into the scale (P/4 · 2^{e}·4). {} are not E2M1 values; the spec \
             stores 2^{e} and the codes above.",
            document::MX_SCALE,
            list(document::MX_W),
            off.join(" and ")
        ));
    }
    steps.push(s);

    let xb = x.scales()[0];
    let ex = e8m0::exponent(xb).expect("finite");
    let mut s = step("Step 2: quantize x to MXFP4");
    s.line(format!(
        "amax = 0.8 = 1.6 · 2^-1; e = {ex}; E8M0 byte {xb:#04x}"
    ));
    s.line(format!(
        "x / 2^{ex} = [{}, {}] → {}",
        0.8f32 * 2f32.powi(-ex),
        0.6f32 * 2f32.powi(-ex),
        code_list(x.codes())
    ));
    let top = 0.8f32 * 2f32.powi(-ex);
    if top > 6.0 {
        s.line(format!(
            "{top} is above E2M1's largest value: clipped to 6 (0.8 is stored as {}), the main \
             source of this example's MXFP4 error",
            6.0 * 2f32.powi(ex)
        ));
    }
    if doc {
        let quarter: Vec<f64> = x
            .codes()
            .iter()
            .map(|&c| f64::from(e2m1::decode(c)) / 4.0)
            .collect();
        s.check(
            "x elements",
            list(x.codes().iter().map(|&c| e2m1::decode(c))),
            list(document::MX_X),
            quarter == document::MX_X,
        );
        s.up_to("÷4");
    }
    steps.push(s);

    let mut s = step("Step 3: low-precision multiplication (exact integers on 2·E2M1)");
    let dots = [terms[0][0].dot, terms[1][0].dot];
    for (m, dot) in dots.iter().enumerate() {
        let a = &w.row_codes(m);
        s.line(format!(
            "(2·{})(2·{}) + (2·{})(2·{}) = {}",
            e2m1::decode(a[0]),
            e2m1::decode(x.codes()[0]),
            e2m1::decode(a[1]),
            e2m1::decode(x.codes()[1]),
            dot
        ));
    }
    if doc {
        let inter = dots.map(|d| f64::from(d) / 4.0 / 16.0);
        s.line(format!(
            "In the document's units (elements divided by 4, products by 16): {} / 64 = {}",
            list(dots),
            pair(inter, 4)
        ));
        s.check(
            "intermediate",
            pair(inter, 4),
            pair(document::MX_INTERMEDIATE, 4),
            inter == document::MX_INTERMEDIATE,
        );
    }
    steps.push(s);

    let mut s = step("Step 4: de-quantize the result");
    let y = y_of(&terms);
    s.line(format!(
        "y = integer · 2^(ea + eb - 2) = {} · 2^({e} + {ex} - 2) = ({}, {})",
        list(dots),
        y[0],
        y[1]
    ));
    let yf = y.map(f64::from);
    s.check(
        "MXFP4 result",
        pair(yf, 5),
        pair(document::MX_RESULT, 5),
        yf == document::MX_RESULT,
    );
    if doc {
        s.line("The document's final numbers are exact under the spec: only its intermediate notation differs.");
    }
    steps.push(s);

    let title = if doc {
        "MXFP4 walkthrough, as the document computes (one block for all of W)"
    } else {
        "MXFP4 walkthrough, as the OCP MX spec computes (blocks of 32 along K, floor scale rule)"
    };
    Section {
        title: title.into(),
        steps,
    }
}

fn comparison() -> Section {
    let r = results();
    let mut s = step("Results side by side (error = result - true)");
    let row = |name: &str, y: [f32; 2]| {
        format!(
            "{name:<28} ({:>8.5}, {:>8.5})   error ({:+.5}, {:+.5})",
            y[0],
            y[1],
            f64::from(y[0]) - r.reference[0],
            f64::from(y[1]) - r.reference[1]
        )
    };
    s.line(format!(
        "{:<28} ({:>8.5}, {:>8.5})",
        "true (f64)", r.reference[0], r.reference[1]
    ));
    s.line(row("INT8, floor (document)", r.int8_floor));
    s.line(row("INT8, round-half-even", r.int8_half_even));
    s.line(row("MXFP4, floor scale rule", r.mxfp4));
    let mut m = step("Memory");
    m.line("INT8: 8 bits per element, 4× smaller than FP32 (plus one scale and zero point per tensor).");
    m.line(format!(
        "MXFP4: 4 bits per element plus an 8-bit scale per 32-element block = {} bits, {:.2}× smaller \
         than FP32 (the document's 8× counts the elements only).",
        crate::core::format::mxfp4_bits_per_element(32),
        32.0 / crate::core::format::mxfp4_bits_per_element(32)
    ));
    Section {
        title: "Final comparison".into(),
        steps: vec![s, m],
    }
}

/// The walkthrough's sections for `mode`.
pub fn sections(mode: Mode) -> Vec<Section> {
    let modes: &[Mode] = match mode {
        Mode::Both => &[Mode::Document, Mode::Spec],
        Mode::Document => &[Mode::Document],
        Mode::Spec => &[Mode::Spec],
    };
    let mut out: Vec<Section> = modes.iter().map(|&m| int8_section(m)).collect();
    out.extend(modes.iter().map(|&m| mx_section(m)));
    out.push(comparison());
    out
}

/// Plain-text rendering, one step per paragraph.
pub fn render(sections: &[Section]) -> String {
    let mut out = String::new();
    for sec in sections {
        out.push_str(&format!("== {} ==\n", sec.title));
        for st in &sec.steps {
            out.push_str(&format!("{}\n", st.title));
            for l in &st.lines {
                out.push_str(&format!("  {l}\n"));
            }
            for c in &st.checks {
                out.push_str(&format!(
                    "  {} {:<14} computed {:<28} document {}\n",
                    c.mark(),
                    c.what,
                    c.computed,
                    c.document_text()
                ));
            }
        }
        out.push('\n');
    }
    out
}

/// Every step of one output element `y[m][n]` of a quantized product, for any W (`M × K`) and
/// x (`K × N`) already quantized (W as `qw`, xᵀ as `qx`) by `variant`'s format: what a
/// front-end shows as "the walkthrough of the current matrices". The format writes the steps.
#[allow(clippy::too_many_arguments)]
pub fn trace_element(
    w: &Matrix,
    x: &Matrix,
    variant: &crate::core::family::Variant,
    qw: &dyn crate::core::family::Quantized,
    qx: &dyn crate::core::family::Quantized,
    reference: f64,
    m: usize,
    n: usize,
) -> Vec<Step> {
    let (traced, y) = variant.trace(&crate::core::family::TraceInput {
        w,
        x,
        qw,
        qx,
        gemm: &variant.gemm,
        m,
        n,
    });
    let mut steps: Vec<Step> = traced
        .into_iter()
        .map(|t| Step {
            title: t.title,
            lines: t.lines,
            checks: Vec::new(),
        })
        .collect();
    let mut s = step("Against the reference");
    s.line(format!(
        "y[{m}][{n}] = {y}   f64 reference = {reference}   error = {:e}",
        f64::from(y) - reference
    ));
    steps.push(s);
    steps
}
