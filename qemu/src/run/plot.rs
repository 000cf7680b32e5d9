//! `capmon-run bench --plot`: draws the benchmark figures as SVG under `docs/figures/`.
