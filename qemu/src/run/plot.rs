//! `capmon-run bench --plot`: draws the benchmark figures as SVG (with `plotters`) under
//! `docs/figures/`, next to the anchors they are judged against, and writes the figures as
//! JSON beside them (`bench.json`, serde) so the pictures can be checked against numbers.
//!
//! - `hostcall-switch.svg`: null hostcall and cVM switch per board, in guest instructions on a
//!   log scale, against their targets and Linux's getpid and pipe round trip measured on the
//!   same QEMU (docs: shared reference `sealed-calls.md`);
//! - `io.svg`: disk throughput (bytes per guest instruction, write and read) per board against
//!   its target, and the UDP echo round trip between two cVMs.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::bench::{Row, DISK_BPI_TARGET, NULL_LIMIT, SWITCH_LIMIT};

/// Linux 6.1's getpid on the same QEMU, in guest instructions (the null hostcall's anchor).
pub const LINUX_GETPID: f64 = 497.0;
/// A Linux pipe round trip between two processes on the same QEMU, in guest instructions
/// (the anchor for a switch between two cVMs).
pub const LINUX_PIPE_ROUND_TRIP: f64 = 15_601.0;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 480;
const SERIES: [RGBColor; 2] = [RGBColor(0x1f, 0x77, 0xb4), RGBColor(0xff, 0x7f, 0x0e)];

/// One bar group per board: its name and up to two values.
struct Groups<'a> {
    boards: Vec<&'a str>,
    values: Vec<[Option<f64>; 2]>,
}

fn draw_err<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> String + '_ {
    move |e| format!("drawing {}: {e:?}", path.display())
}

/// A horizontal reference line with its label at the right end.
type Anchor = (f64, String, RGBColor);

/// Draws grouped bars (two series) per board with reference lines, on a log or linear scale.
fn bar_chart(
    path: &Path,
    title: &str,
    y_desc: &str,
    series: [&str; 2],
    groups: &Groups<'_>,
    anchors: &[Anchor],
    log: bool,
) -> Result<(), String> {
    let err = draw_err(path);
    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let values = || groups.values.iter().flatten().flatten().copied();
    let top = values()
        .chain(anchors.iter().map(|a| a.0))
        .fold(1.0f64, f64::max);
    // On a log scale the axis starts a decade below the smallest bar, so bars of similar size
    // still differ visibly; a linear one starts at 0.
    let smallest = values().fold(top, f64::min).max(1.0);
    let bottom = if log {
        10f64.powf(smallest.log10().floor() - 1.0)
    } else {
        0.0
    };
    let n = groups.boards.len().max(1) as f64;
    let label = |x: &f64| -> String {
        // Board k's group is centred on k + 0.5; other ticks get no label.
        (0..groups.boards.len())
            .find(|&k| (k as f64 + 0.5 - x).abs() < 1e-6)
            .map(|k| groups.boards[k].to_string())
            .unwrap_or_default()
    };
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70);
    macro_rules! body {
        ($chart:expr) => {{
            let chart = &mut $chart;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(groups.boards.len() * 2 + 1)
                .x_label_formatter(&label)
                .y_desc(y_desc)
                .draw()
                .map_err(&err)?;
            for (s, name) in series.iter().enumerate() {
                let color = SERIES[s];
                let bars = groups.values.iter().enumerate().filter_map(|(i, v)| {
                    let value = v[s]?;
                    let x0 = i as f64 + 0.15 + 0.35 * s as f64;
                    Some(Rectangle::new(
                        [(x0, bottom), (x0 + 0.33, value)],
                        color.filled(),
                    ))
                });
                // Each bar's value above it, so the figure can be read without the JSON.
                let style = TextStyle::from(("sans-serif", 12).into_font())
                    .pos(Pos::new(HPos::Center, VPos::Bottom));
                let labels = groups.values.iter().enumerate().filter_map(|(i, v)| {
                    let value = v[s]?;
                    let x = i as f64 + 0.15 + 0.35 * s as f64 + 0.165;
                    let text = if value >= 100.0 {
                        format!("{value:.0}")
                    } else {
                        format!("{value:.2}")
                    };
                    Some(Text::new(text, (x, value.max(bottom)), style.clone()))
                });
                chart.draw_series(labels).map_err(&err)?;
                chart
                    .draw_series(bars)
                    .map_err(&err)?
                    .label(*name)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                    });
            }
            for (value, text, color) in anchors {
                let color = *color;
                chart
                    .draw_series(LineSeries::new(
                        [(0.0, *value), (n, *value)],
                        color.stroke_width(2),
                    ))
                    .map_err(&err)?
                    .label(text.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 10, y)], color.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(&err)?;
        }};
    }
    if log {
        let mut chart = builder
            // Headroom above the highest bar or line for the legend.
            .build_cartesian_2d(0.0..n, (bottom..top * 30.0).log_scale())
            .map_err(&err)?;
        body!(chart);
    } else {
        let mut chart = builder
            .build_cartesian_2d(0.0..n, bottom..top * 1.6)
            .map_err(&err)?;
        body!(chart);
    }
    root.present().map_err(&err)?;
    Ok(())
}

/// Draws every figure into `dir`; returns the files written.
pub fn draw(rows: &[Row], dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let boards: Vec<&str> = rows.iter().map(|r| r.board.as_str()).collect();
    let gray = RGBColor(0x55, 0x55, 0x55);
    let red = RGBColor(0xd6, 0x27, 0x28);
    let green = RGBColor(0x2c, 0xa0, 0x2c);
    let purple = RGBColor(0x94, 0x67, 0xbd);

    let calls = dir.join("hostcall-switch.svg");
    bar_chart(
        &calls,
        "Null hostcall and cVM switch (median, guest instructions under -icount)",
        "guest instructions (log scale)",
        ["null hostcall round trip", "switch between two cVMs"],
        &Groups {
            boards: boards.clone(),
            values: rows
                .iter()
                .map(|r| {
                    [
                        r.bench.null.as_ref().map(|f| f.median),
                        r.bench.switch.as_ref().map(|f| f.median),
                    ]
                })
                .collect(),
        },
        &[
            (
                NULL_LIMIT,
                format!("target: null hostcall ≤ {NULL_LIMIT}"),
                green,
            ),
            (
                SWITCH_LIMIT,
                format!("target: switch ≤ {SWITCH_LIMIT}"),
                purple,
            ),
            (
                LINUX_GETPID,
                format!("Linux getpid, same QEMU ({LINUX_GETPID})"),
                gray,
            ),
            (
                LINUX_PIPE_ROUND_TRIP,
                format!("Linux pipe round trip, same QEMU ({LINUX_PIPE_ROUND_TRIP})"),
                red,
            ),
        ],
        true,
    )?;

    let disk = dir.join("disk.svg");
    bar_chart(
        &disk,
        "Disk throughput: 1 MiB in 64 KiB requests through a cVM's grant",
        "bytes per guest instruction",
        ["write", "read"],
        &Groups {
            boards: boards.clone(),
            values: rows
                .iter()
                .map(|r| [r.io.disk_write_bpi, r.io.disk_read_bpi])
                .collect(),
        },
        &[(
            DISK_BPI_TARGET,
            format!("target ≥ {DISK_BPI_TARGET}"),
            green,
        )],
        false,
    )?;

    let net = dir.join("udp.svg");
    bar_chart(
        &net,
        "UDP echo round trip between two cVMs (smoltcp, monitor switch)",
        "guest instructions (log scale)",
        ["median", "fastest batch"],
        &Groups {
            boards,
            values: rows
                .iter()
                .map(|r| {
                    let f = r.io.udp_round_trip.as_ref();
                    [f.map(|f| f.median), f.map(|f| f.min)]
                })
                .collect(),
        },
        &[(
            LINUX_PIPE_ROUND_TRIP,
            format!("Linux pipe round trip, same QEMU ({LINUX_PIPE_ROUND_TRIP})"),
            red,
        )],
        true,
    )?;

    let json = dir.join("bench.json");
    let text = serde_json::to_string_pretty(rows)
        .map_err(|e| format!("cannot serialise the figures: {e}"))?;
    std::fs::write(&json, text + "\n")
        .map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    Ok(vec![calls, disk, net, json])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::bench::{BenchFigures, Figure, IoFigures};

    fn figure(median: f64) -> Option<Figure> {
        Some(Figure {
            median,
            min: median - 1.0,
            detail: "N=1000".into(),
        })
    }

    #[test]
    fn draws_every_figure_with_its_numbers_and_anchors() {
        let rows = vec![
            Row {
                board: "qemu-aarch64".into(),
                bench: BenchFigures {
                    null: figure(123.0),
                    switch: figure(345.0),
                    ..BenchFigures::default()
                },
                io: IoFigures {
                    disk_write_bpi: Some(2.5),
                    disk_read_bpi: Some(3.5),
                    udp_round_trip: figure(20_000.0),
                    ..IoFigures::default()
                },
                ..Row::default()
            },
            // A board whose runs failed: no bars, still a group.
            Row {
                board: "qemu-riscv64".into(),
                ..Row::default()
            },
        ];
        let dir = crate::workspace::temp_dir("plot").expect("tempdir");
        let files = draw(&rows, dir.path()).expect("draws");
        assert_eq!(files.len(), 4);
        let svg = std::fs::read_to_string(dir.path().join("hostcall-switch.svg")).expect("svg");
        assert!(svg.starts_with("<svg"), "{svg}");
        for text in [
            "qemu-aarch64",
            "qemu-riscv64",
            "Linux getpid",
            "Linux pipe round trip",
            "target: switch",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("bench.json")).expect("json"),
        )
        .expect("valid JSON");
        assert_eq!(json[0]["bench"]["null"]["median"], 123.0);
        assert_eq!(json[1]["board"], "qemu-riscv64");
        // What `bench --from` reads back is what was measured.
        let back: Vec<Row> = serde_json::from_value(json).expect("rows");
        assert_eq!(back, rows);
        assert!(std::fs::read_to_string(dir.path().join("disk.svg"))
            .expect("svg")
            .contains("target ≥ 3"));
    }
}
