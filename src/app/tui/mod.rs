//! The interactive explorer (The Elm Architecture): keys become [`app::Action`]s through one
//! keymap, [`app::App::update`] is the only mutation, rendering is a pure function of the
//! state, and every computation runs on a worker thread.

pub mod app;
pub mod keymap;
pub mod model;
pub mod params;
pub mod render;
pub mod theme;

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use ratatui::DefaultTerminal;
use ratatui::crossterm::cursor::Show;
use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind, MouseButton, MouseEventKind,
};
use ratatui::crossterm::execute;

use crate::core::error::{Error, Result};
use crate::core::experiment;
use crate::core::metrics::hotspots;
use crate::core::scenario::Scenario;
use app::{Action, App, Command, Computed, Done, Job};

/// Runs one job: the whole scenario, measured.
pub fn compute(job: &Job) -> Done {
    let start = Instant::now();
    let result = experiment::execute(&job.scenario)
        .map(|run| {
            let report = run.report();
            let (m, n) = (run.w.rows(), run.x.cols());
            let hotspots = run
                .variants
                .iter()
                .map(|v| hotspots::find(v.y.data(), &run.reference, m, n, 5))
                .collect();
            Computed {
                generation: job.generation,
                run,
                report,
                hotspots,
                elapsed: start.elapsed(),
            }
        })
        .map_err(|e| e.to_string());
    Done {
        generation: job.generation,
        result,
    }
}

/// The worker: takes the newest job waiting (older ones are stale), computes it, reports back.
fn spawn_worker(jobs: mpsc::Receiver<Job>, done: mpsc::Sender<Done>) {
    thread::spawn(move || {
        while let Ok(mut job) = jobs.recv() {
            while let Ok(newer) = jobs.try_recv() {
                job = newer;
            }
            if done.send(compute_caught(&job, compute)).is_err() {
                break;
            }
        }
    });
}

/// Runs `compute` on `job`, turning a panic (a bug) into an error the explorer shows in its
/// status line, so the session, its terminal and its worker survive it.
pub fn compute_caught(job: &Job, compute: impl FnOnce(&Job) -> Done) -> Done {
    panic::catch_unwind(AssertUnwindSafe(|| compute(job))).unwrap_or_else(|payload| {
        let what = LAST_PANIC
            .lock()
            .ok()
            .and_then(|mut p| p.take())
            .or_else(|| {
                payload
                    .downcast_ref::<&str>()
                    .map(std::string::ToString::to_string)
            })
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        Done {
            generation: job.generation,
            result: Err(format!(
                "internal error (a bug in qlab; please report it): {}",
                what.replace('\n', " ")
            )),
        }
    })
}

/// The last panic seen off the UI thread, with its location, for [`compute_caught`].
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Opens the explorer on `scenario`; the terminal is restored on exit, on error and on panic.
pub fn run(scenario: Scenario, export_dir: PathBuf) -> Result<()> {
    with_terminal(|terminal| event_loop(terminal, scenario, None, export_dir))
}

/// Opens the explorer on a model: the model screen, its scan under `scenario`'s variants and
/// x, and any tensor as W in the other screens.
pub fn run_model(scenario: Scenario, model: model::Model, export_dir: PathBuf) -> Result<()> {
    with_terminal(|terminal| event_loop(terminal, scenario, Some(model), export_dir))
}

/// Puts the terminal in the explorer's state (raw mode, alternate screen, mouse capture, a
/// hidden cursor), runs `body`, and puts it back: on return, on error, and on a panic on this
/// thread, through the panic hook, before the panic message is printed. A panic on another
/// thread (the worker, rayon's threads) leaves the screen alone and is only recorded:
/// [`compute_caught`] turns it into an error shown in the status line. The hook stays
/// installed after `body` returns; the process is about to exit.
pub fn with_terminal(body: impl FnOnce(&mut DefaultTerminal) -> io::Result<()>) -> Result<()> {
    let io_err = |e: io::Error| Error::Invalid(format!("terminal: {e}"));
    // try_init installs ratatui's hook (restore, then the default message); ours wraps it.
    let mut terminal = ratatui::try_init().map_err(io_err)?;
    let restoring = panic::take_hook();
    let ui = thread::current().id();
    panic::set_hook(Box::new(move |info| {
        if thread::current().id() == ui {
            let _ = execute!(io::stdout(), DisableMouseCapture, Show);
            restoring(info);
        } else if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(info.to_string());
        }
    }));
    let _ = execute!(io::stdout(), EnableMouseCapture);
    let result = body(&mut terminal).map_err(io_err);
    let _ = execute!(io::stdout(), DisableMouseCapture, Show);
    ratatui::restore();
    result
}

/// Work for the I/O thread: every file the explorer reads or writes.
enum Io {
    Load(PathBuf),
    LoadShipped(&'static str),
    /// The result, the files it was made from (never overwritten), the directory to write to.
    Export(Arc<Computed>, Vec<PathBuf>, PathBuf),
    List,
}

/// The I/O thread: reads and writes files one request at a time and reports each outcome as
/// an action. A request that waits on a slow disk delays only the requests behind it.
fn spawn_io(requests: mpsc::Receiver<Io>, done: mpsc::Sender<Action>) {
    thread::spawn(move || {
        while let Ok(request) = requests.recv() {
            let action = match request {
                Io::Load(path) => {
                    Action::Loaded(Box::new(Scenario::load(&path).map_err(|e| e.to_string())))
                }
                Io::LoadShipped(name) => {
                    Action::Loaded(Box::new(Scenario::shipped(name).map_err(|e| e.to_string())))
                }
                Io::Export(c, inputs, dir) => {
                    let r = &c.report;
                    let stem = format!("qlab-{}-seed{}", r.scenario.name, r.scenario.seed);
                    Action::Exported(
                        crate::core::report::export(&dir, &stem, r, &inputs)
                            .map_err(|e| e.to_string()),
                    )
                }
                Io::List => Action::Listed(app::scenario_files()),
            };
            if done.send(action).is_err() {
                break;
            }
        }
    });
}

/// The channels to the background threads.
struct Workers {
    jobs: mpsc::Sender<Job>,
    io: mpsc::Sender<Io>,
    /// Where a model scan's results go, and which scan is current (an older one stops).
    actions: mpsc::Sender<Action>,
    scan: Arc<std::sync::atomic::AtomicU64>,
}

/// Scans a model on a thread of its own, one tensor at a time, each result sent back as it
/// comes; stops when a newer scan starts or the explorer ends.
fn spawn_scan(job: model::ScanJob, workers: &Workers) {
    use std::sync::atomic::Ordering;
    workers.scan.store(job.generation, Ordering::SeqCst);
    let (tx, current) = (workers.actions.clone(), Arc::clone(&workers.scan));
    thread::spawn(move || {
        for (row, s) in job.scenarios {
            if current.load(Ordering::SeqCst) != job.generation {
                break;
            }
            let result = panic::catch_unwind(AssertUnwindSafe(|| model::scan_one(&s)))
                .unwrap_or_else(|_| Err("internal error (a bug in qlab)".into()));
            let done = Action::Scanned {
                generation: job.generation,
                row,
                result,
            };
            if tx.send(done).is_err() {
                break;
            }
        }
    });
}

fn event_loop(
    terminal: &mut DefaultTerminal,
    scenario: Scenario,
    model: Option<model::Model>,
    export_dir: PathBuf,
) -> io::Result<()> {
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    spawn_worker(job_rx, done_tx);
    let (io_tx, io_rx) = mpsc::channel::<Io>();
    let (io_done_tx, io_done_rx) = mpsc::channel::<Action>();
    let job_tx = Workers {
        jobs: job_tx,
        io: io_tx,
        actions: io_done_tx.clone(),
        scan: Arc::new(std::sync::atomic::AtomicU64::new(0)),
    };
    spawn_io(io_rx, io_done_tx);
    let mut app = match model {
        Some(m) => App::with_model(scenario, m),
        None => App::new(scenario),
    };
    app.export_dir = export_dir;
    let size = terminal.size()?;
    app.update(Action::Resize(size.width, size.height));
    let first = app.start();
    perform(&mut app, first, &job_tx);
    if let Some(scan) = app.scan() {
        perform(&mut app, scan, &job_tx);
    }
    while !app.quit {
        terminal.draw(|f| render::draw(f, &app))?;
        if event::poll(Duration::from_millis(100))? {
            let action = match event::read()? {
                Event::Key(k) if k.kind == KeyEventKind::Press => {
                    keymap::action(app.context(), app.screen, k)
                }
                // Where the tabs are is the view's business: the click becomes a screen here,
                // so that `update` knows nothing of the layout.
                Event::Mouse(m)
                    if m.kind == MouseEventKind::Down(MouseButton::Left)
                        && m.row == render::TAB_ROW =>
                {
                    let screens = app.screens();
                    render::tab_at(m.column, app.size.0, &screens)
                        .and_then(|s| screens.iter().position(|&x| x == s))
                        .map_or(Action::None, Action::ShowScreen)
                }
                Event::Resize(w, h) => Action::Resize(w, h),
                _ => Action::None,
            };
            dispatch(&mut app, action, &job_tx);
        }
        while let Ok(done) = done_rx.try_recv() {
            dispatch(&mut app, Action::Finished(Box::new(done)), &job_tx);
        }
        while let Ok(action) = io_done_rx.try_recv() {
            dispatch(&mut app, action, &job_tx);
        }
        if app.pending.is_some() {
            app.update(Action::Tick);
        }
    }
    Ok(())
}

fn dispatch(app: &mut App, action: Action, workers: &Workers) {
    if let Some(cmd) = app.update(action) {
        perform(app, cmd, workers);
    }
}

/// Hands a command to the thread that carries it out; its outcome comes back through
/// `update` as an action.
fn perform(app: &mut App, cmd: Command, workers: &Workers) {
    let _ = match cmd {
        Command::Compute(job) => workers.jobs.send(*job).is_ok(),
        Command::Load(path) => workers.io.send(Io::Load(path)).is_ok(),
        Command::LoadShipped(name) => workers.io.send(Io::LoadShipped(name)).is_ok(),
        Command::List => workers.io.send(Io::List).is_ok(),
        Command::Scan(job) => {
            spawn_scan(*job, workers);
            true
        }
        Command::Export => match &app.computed {
            Some(c) => workers
                .io
                .send(Io::Export(
                    Arc::clone(c),
                    app.scenario.data_files(),
                    app.export_dir.clone(),
                ))
                .is_ok(),
            None => false,
        },
    };
}
