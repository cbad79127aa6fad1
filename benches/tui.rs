//! The explorer's speed (run: `cargo bench --bench tui`): the time from a parameter change to
//! the new result on a 1024 × 1024 × 1024 scenario, and the time to render one frame.

use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use qlab::scenario::Scenario;
use qlab::tui::app::{Action, App, Command, Screen};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const BIG: &str = "name = \"big\"\nm = 1024\nk = 1024\nn = 1024\n";

fn settle(app: &mut App, cmd: Option<Command>) {
    if let Some(Command::Compute(job)) = cmd {
        let done = qlab::tui::compute(&job);
        app.update(Action::Finished(Box::new(done)));
    }
}

fn explorer(c: &mut Criterion) {
    let scenario = Scenario::from_toml(BIG, Path::new("big.toml"), PathBuf::new()).unwrap();
    let mut app = App::new(scenario);
    app.update(Action::Resize(160, 48));
    let first = app.start();
    settle(&mut app, Some(first));

    let mut g = c.benchmark_group("explorer_1024");
    g.sample_size(10);
    // A parameter change (reroll) through the worker's computation to a new result.
    g.bench_function("parameter_change_to_result", |b| {
        b.iter(|| {
            let cmd = app.update(Action::Reroll);
            settle(&mut app, cmd);
        });
    });
    g.finish();

    let mut g = c.benchmark_group("frame_160x48");
    for (i, screen) in Screen::ALL.iter().enumerate() {
        app.update(Action::ShowScreen(i));
        app.update(Action::NextVariant);
        let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
        g.bench_function(screen.title(), |b| {
            b.iter(|| {
                term.draw(|f| qlab::tui::render::draw(f, &app)).unwrap();
            });
        });
    }
    g.finish();
}

criterion_group!(benches, explorer);
criterion_main!(benches);
