//! `just soak`: the load and soak scenario of `tests/e2e/support/soak.rs` on the release
//! binary, `ORDERDESK_SOAK_SECS` seconds of load per backend (default 600): SQLite with one
//! `serve`, then Redis with two. Prints a summary per backend, writes its own section of
//! `bench/RESULTS.md` (between `<!-- bench:soak -->` markers, keeping every other section),
//! then fails if any of the scenario's checks did not hold.
//!
//! For digging into a failure: `ORDERDESK_SOAK_BACKENDS=sqlite` (or `redis`) runs one
//! backend, `ORDERDESK_SOAK_LOG=info` sets the servers' log filter (default `warn`) and
//! `ORDERDESK_SOAK_DUMP=DIR` writes each server's whole log there at the end.

#[path = "../e2e/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use support::soak::{
    Backend, Figures, Kind, MAX_FD_GROWTH, MAX_P99_RATIO, MAX_RSS_GROWTH, Plan, mb, ms, outcomes,
    percentile, run,
};

const BEGIN: &str = "<!-- bench:soak -->";
const END: &str = "<!-- /bench:soak -->";
const DEFAULT_SECS: u64 = 600;

// One thread for the clients and the fake (the noisy tenant gets a thread of its own).
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let began = Instant::now();
    let secs = std::env::var("ORDERDESK_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SECS);
    let plan = Plan::long(secs);
    let load_before = load_average();
    let mut runs = Vec::new();
    // `ORDERDESK_SOAK_BACKENDS=sqlite` (or `redis`) runs one backend only.
    let only = std::env::var("ORDERDESK_SOAK_BACKENDS").unwrap_or_default();
    let backends = [Backend::Sqlite, Backend::Redis]
        .into_iter()
        .filter(|b| only.is_empty() || only.contains(&format!("{b:?}").to_lowercase()));
    for backend in backends {
        println!(
            "soak on {}: {} s of load ({} s without the noisy tenant)…",
            backend.label(),
            plan.load_secs(),
            plan.solo.as_secs()
        );
        let figures = run(backend, &plan).await;
        println!("{}", figures.summary());
        runs.push(figures);
    }
    let section = markdown(&runs, secs, &plan, &load_before, began.elapsed());
    let path = write(&section);
    println!("written to {}", path.display());
    let failed: Vec<String> = runs
        .iter()
        .flat_map(|f| {
            let label = f.backend.map_or("?", Backend::label);
            f.violations()
                .into_iter()
                .map(move |v| format!("{label}: {v}"))
        })
        .collect();
    assert!(failed.is_empty(), "soak failed:\n- {}", failed.join("\n- "));
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn mark(ok: bool) -> &'static str {
    if ok { "**held**" } else { "**FAILED**" }
}

fn markdown(
    runs: &[Figures],
    secs: u64,
    plan: &Plan,
    load_before: &str,
    elapsed: std::time::Duration,
) -> String {
    let mut out = String::new();
    let command = if secs == DEFAULT_SECS {
        "just soak".to_string()
    } else {
        format!("ORDERDESK_SOAK_SECS={secs} just soak")
    };
    let _ = writeln!(out, "{BEGIN}");
    let _ = writeln!(
        out,
        "## Load and soak: eight tenants, one noisy, faults all along\n"
    );
    let _ = writeln!(
        out,
        "Written by `{command}` (`cargo bench -p orderdesk-mcp --bench soak` with \
         `ORDERDESK_SOAK_SECS={secs}`): {} s of load per backend, the first {} s without the \
         noisy tenant, after a {} s warm-up. The scenario is `tests/e2e/support/soak.rs`; \
         `tests/e2e/soak.rs` runs it for about 20 s per backend in the test command.\n",
        plan.load_secs(),
        plan.solo.as_secs(),
        plan.warmup.as_secs()
    );
    let _ = writeln!(out, "| check | {} |", labels(runs));
    let _ = writeln!(out, "|---|{}", "---|".repeat(runs.len()));
    let row = |out: &mut String, name: &str, cell: &dyn Fn(&Figures) -> String| {
        let cells: Vec<String> = runs.iter().map(cell).collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    };
    row(
        &mut out,
        "lost edits (acknowledged updates missing)",
        &|f| {
            format!(
                "{} of {} {}",
                f.updates_lost.len(),
                f.updates_acked,
                mark(f.updates_lost.is_empty())
            )
        },
    );
    row(
        &mut out,
        "updates refused (nothing written, they say) but written",
        &|f| {
            format!(
                "{} of {} {}",
                f.updates_refused_but_written.len(),
                f.updates_refused,
                mark(f.updates_refused_but_written.is_empty())
            )
        },
    );
    row(
        &mut out,
        "outside edits lost (made / still in the orders)",
        &|f| {
            format!(
                "{} ({} / {}) {}",
                f.lost_outside_edits(),
                f.outside_edits,
                f.outside_edits_visible,
                mark(f.lost_outside_edits() == 0)
            )
        },
    );
    row(&mut out, "duplicate orders (source ids used)", &|f| {
        format!(
            "{} ({}) {}",
            f.creates_duplicated.len(),
            f.creates,
            mark(f.creates_duplicated.is_empty())
        )
    });
    row(&mut out, "acknowledged creates missing", &|f| {
        format!(
            "{} of {} {}",
            f.creates_acked_missing.len(),
            f.creates_acked,
            mark(f.creates_acked_missing.is_empty())
        )
    });
    row(
        &mut out,
        "creates refused (nothing created, they say) that created",
        &|f| {
            format!(
                "{} {}",
                f.creates_refused_but_made.len(),
                mark(f.creates_refused_but_made.is_empty())
            )
        },
    );
    row(
        &mut out,
        &format!(
            "quiet tenants' cache-hit p99, without → with the noisy tenant (bound ×{MAX_P99_RATIO} or {})",
            ms(plan.p99_fine)
        ),
        &|f| {
            format!(
                "{} → {} (×{:.2}) {}",
                ms(f.p99_solo()),
                ms(f.p99_noisy()),
                f.ratio(),
                mark(f.latency_held())
            )
        },
    );
    row(
        &mut out,
        &format!("RSS start → end (max), bound +{} MiB", MAX_RSS_GROWTH >> 20),
        &|f| {
            f.usage
                .iter()
                .map(|u| {
                    format!(
                        "{} → {} ({}) {}",
                        mb(u.rss_start),
                        mb(u.rss_end),
                        mb(u.rss_max),
                        mark(u.rss_end <= u.rss_start + MAX_RSS_GROWTH)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        },
    );
    row(
        &mut out,
        &format!("open fds start → end (max), bound +{MAX_FD_GROWTH}"),
        &|f| {
            f.usage
                .iter()
                .map(|u| {
                    format!(
                        "{} → {} ({}) {}",
                        u.fds_start,
                        u.fds_end,
                        u.fds_max,
                        mark(u.fds_end <= u.fds_start + MAX_FD_GROWTH)
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        },
    );
    row(
        &mut out,
        "calls unanswered after 40 s (the call deadline is 30 s); calls the servers took over 26 s",
        &|f| {
            format!(
                "{} {}; {:?}",
                f.late.len(),
                mark(f.late.is_empty()),
                f.server_calls_over_26s
            )
        },
    );
    row(&mut out, "all checks", &|f| {
        let v = f.violations();
        if v.is_empty() {
            mark(true).into()
        } else {
            format!("{} {}", mark(false), v.join("; "))
        }
    });
    let _ = writeln!(out);

    let _ = writeln!(out, "| figure | {} |", labels(runs));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(runs.len()));
    row(
        &mut out,
        "quiet cache hits p50 / p99 / max, without the noisy tenant (n)",
        &|f| hits(&f.hits_solo),
    );
    row(
        &mut out,
        "quiet cache hits p50 / p99 / max, with it (n)",
        &|f| hits(&f.hits_noisy),
    );
    for kind in Kind::ALL {
        row(
            &mut out,
            &format!("quiet {}: p50 / p99 (all answers)", kind.label()),
            &|f| {
                let v = f.quiet_latency.get(&kind).map_or(&[][..], Vec::as_slice);
                format!("{} / {}", ms(percentile(v, 0.5)), ms(percentile(v, 0.99)))
            },
        );
    }
    row(
        &mut out,
        "updates: acknowledged / refused / outcome unknown (of them written)",
        &|f| {
            format!(
                "{} / {} / {} ({})",
                f.updates_acked, f.updates_refused, f.updates_unknown, f.updates_unknown_written
            )
        },
    );
    row(
        &mut out,
        "creates: acknowledged / unknown at first (retried with the same source_id) / never settled (of them made)",
        &|f| {
            format!(
                "{} / {} / {} ({})",
                f.creates_acked,
                f.creates_unknown_at_first,
                f.creates_unresolved,
                f.creates_unresolved_made
            )
        },
    );
    row(
        &mut out,
        "requests to OrderDesk / 429 / 5xx / dropped",
        &|f| {
            format!(
                "{} / {} / {} / {}",
                f.upstream_requests, f.upstream_429, f.upstream_5xx, f.upstream_dropped
            )
        },
    );
    row(
        &mut out,
        "RSS (MB) and open fds after the warm-up, then every minute: each server",
        &|f| {
            f.usage
                .iter()
                .map(|u| {
                    let rss: Vec<String> = u
                        .series
                        .iter()
                        .map(|(_, r, _)| format!("{:.0}", *r as f64 / 1e6))
                        .collect();
                    let fds: Vec<String> = u.series.iter().map(|(_, _, n)| n.to_string()).collect();
                    format!("{} MB; {} fds", rss.join(" "), fds.join(" "))
                })
                .collect::<Vec<_>>()
                .join("<br>")
        },
    );
    row(
        &mut out,
        "writes to OrderDesk (POST /orders, PUT /orders/{id}) / write faults scheduled",
        &|f| {
            let faults: u64 = f
                .rules_scheduled
                .iter()
                .filter(|(k, _)| k.contains("write") || k.contains("PUT's 429"))
                .map(|(_, n)| n)
                .sum();
            format!("{} / {faults}", f.upstream_writes)
        },
    );
    row(
        &mut out,
        "noisy tenant: calls per second while it ran",
        &|f| format!("{:.0}", f.noisy_rate()),
    );
    row(
        &mut out,
        "CPU, cores busy without → with the noisy tenant: each server; the bench process (clients, fake)",
        &|f| {
            f.cpu
                .iter()
                .map(|c| format!("{:.2} → {:.2}", c.solo, c.noisy))
                .collect::<Vec<_>>()
                .join("; ")
        },
    );
    row(&mut out, "client reconnects (transport errors)", &|f| {
        f.reconnects.to_string()
    });
    row(
        &mut out,
        "noisy tenant: its calls ran / then took to finish",
        &|f| {
            format!(
                "{:.0} s / {:.1} s",
                f.noisy_window.as_secs_f64(),
                f.noisy_drain.as_secs_f64()
            )
        },
    );
    row(&mut out, "wall time of the backend's run", &|f| {
        format!("{:.0} s", f.wall.as_secs_f64())
    });
    let _ = writeln!(out);

    for f in runs {
        let label = f.backend.map_or("?", Backend::label);
        let _ = writeln!(out, "Calls by kind and outcome, {label}:\n");
        let _ = writeln!(
            out,
            "| kind | quiet tenants (7 × 8 clients) | noisy tenant (32 clients) |"
        );
        let _ = writeln!(out, "|---|---|---|");
        for kind in Kind::ALL {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                kind.label(),
                outcomes(&f.quiet, kind),
                outcomes(&f.noisy, kind)
            );
        }
        let _ = writeln!(
            out,
            "| total | {} | {} |\n",
            Figures::total(&f.quiet),
            Figures::total(&f.noisy)
        );
    }
    if let Some(f) = runs.first() {
        let rules: Vec<String> = f
            .rules_scheduled
            .iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect();
        let _ = writeln!(
            out,
            "Faults scheduled on the fake during the {label} run (the other run's are alike): {}.\n",
            rules.join(", "),
            label = f.backend.map_or("?", Backend::label)
        );
    }
    let _ = writeln!(
        out,
        "Method: the release binary as `serve` (`--log warn`, per-tenant budget \
         `--tool-calls-per-minute 300 --tool-call-burst 60`, every other setting at its \
         default: 32 instances, 8 per tenant, 4 per store, 30 s call deadline). Eight \
         tenants created with the CLI, each registering its own store on the in-process fake \
         OrderDesk, which keeps OrderDesk's bucket (20 requests, 3/s per store) and adds 10 ms \
         to every answer. Seven quiet tenants run 8 clients each (stateless 2026-07-28 and \
         session 2025-11-25 clients alternately, on both servers in the Redis run), thinking \
         1.5–4.5 s between calls and honouring retry hints: 85 % `orders_get` on two hot orders, \
         4 % on cold ids, 3 % `orders_list` at a random offset, 5 % `orders_update` (a key of \
         `order_metadata` only that update writes, on one of six orders only updates touch), \
         3 % `orders_create` (a new `source_id`; an answer leaving the outcome unknown is \
         retried with the same one, in the run and at the end). The noisy tenant is a runaway \
         agent with 32 clients, no think time and no regard for retry hints (94 % hot `orders_get`, \
         2 % cold, 2 % `orders_list`, 1 % updates, 1 % creates), on a thread of its own, only \
         in the second phase. Every second the fake is given scheduled rules: a 503 \
         on a read, a slow answer (0.2–1.2 s), an outside edit before a `GET /orders/{{id}}` \
         is served; every 2 s a 429 (Retry-After 1 s) and a 502 on a write; every 3 s a 504 \
         after a write applied and an outside edit after a PUT; every 4 s a dropped read; \
         every 5 s a write applied then dropped and a PUT refused with 429 while the order is \
         edited. Outside edits are kept out of the one request-long window between the \
         update's read and its PUT that OrderDesk's API leaves open (README, \"Updates \
         that lose nothing\"). At the end every update, create and outside edit is checked \
         against the fake's own copy of the stores. Cache-hit latency is the client's (call \
         sent → answer), for calls answered `cache: \"hit\"`; RSS is `VmRSS` and fds \
         `/proc/PID/fd`, read after the warm-up (quiet clients connected) and at the end \
         (quiet clients still connected, the noisy tenant gone). Load average before: {load_before}, \
         after: {}; whole bench {:.0} s.",
        load_average(),
        elapsed.as_secs_f64()
    );
    let _ = writeln!(out, "{END}");
    out
}

fn labels(runs: &[Figures]) -> String {
    runs.iter()
        .map(|f| f.backend.map_or("?", Backend::label))
        .collect::<Vec<_>>()
        .join(" | ")
}

fn hits(sorted: &[std::time::Duration]) -> String {
    format!(
        "{} / {} / {} ({})",
        ms(percentile(sorted, 0.5)),
        ms(percentile(sorted, 0.99)),
        ms(sorted.last().copied().unwrap_or_default()),
        sorted.len()
    )
}

/// Replaces this bench's section of `bench/RESULTS.md` (or appends it), keeping the rest.
fn write(section: &str) -> std::path::PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("bench/RESULTS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let kept = match (old.find(BEGIN), old.find(END)) {
        (Some(begin), Some(end)) if end > begin => format!(
            "{}{}",
            &old[..begin],
            old[end + END.len()..].trim_start_matches('\n')
        ),
        _ => old,
    };
    let mut text = kept.trim_end().to_string();
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(section);
    std::fs::write(&path, text).unwrap();
    path
}
