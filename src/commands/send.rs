//! `ocb send`: resolve the mode (SMTP, dev files or dry run), run the library's
//! `send::run`, print each message as it goes and pick the exit code.

use super::{parse_period, plural};
use crate::cli::{Global, SendArgs};
use crate::config::Config;
use crate::send::message::Email;
use crate::send::{self, Event, Mode, Options, Refused, Report};
use anyhow::Result;

/// Some messages were not sent, or the period was refused.
const NOT_SENT: u8 = 1;

pub fn run(g: &Global, args: &SendArgs) -> Result<u8> {
    let period = parse_period(&args.period)?;
    let config_path = g.config_path();
    let shown = g.config_shown();
    let config = Config::load(&config_path, &shown)?;
    let mode = mode(args, &config);
    let _lock = (mode != Mode::DryRun)
        .then(|| crate::lock::acquire(&g.root, "send"))
        .transpose()?;
    if mode == Mode::Dev && !args.dev && !g.quiet {
        eprintln!(
            "note: `email.dev_mode` is true: writing files instead of sending (--no-dev sends)"
        );
    }
    let opts = Options {
        out: super::out_dir(g, args.out.clone()),
        period,
        mode,
        to: args.to.clone(),
        resend: args.resend,
        allow_held: args.allow_held,
    };
    let mut print = |e: Event| print_event(&e, g);
    let report = match send::run(&g.root, &config, &shown, &opts, &mut print) {
        Ok(r) => r,
        Err(e) => match e.downcast_ref::<Refused>() {
            Some(r) => {
                eprintln!("ocb: refused: {r}");
                return Ok(NOT_SENT);
            }
            None => return Err(e),
        },
    };
    summarize(&report, &opts, g);
    Ok(if report.not_sent.is_empty() {
        0
    } else {
        NOT_SENT
    })
}

/// `--dry-run` wins, then `--dev`/`--no-dev`, then `email.dev_mode`.
fn mode(args: &SendArgs, config: &Config) -> Mode {
    if args.dry_run {
        Mode::DryRun
    } else if args.dev || (config.email.dev_mode && !args.no_dev) {
        Mode::Dev
    } else {
        Mode::Smtp
    }
}

fn print_event(e: &Event, g: &Global) {
    match e {
        Event::WouldSend(m) if !g.quiet => print_plan(m),
        Event::Sent(m) if !g.quiet => println!("sent {}: {}", recipients(m), contents(m)),
        Event::Written(m, path) if !g.quiet => {
            println!("wrote {} ({}: {})", path.display(), m.pi, contents(m))
        }
        Event::Skipped {
            pi,
            number,
            sent_at,
            changed: true,
        } => eprintln!(
            "warning: statement {number} for {pi} changed since sent on {sent_at}; not sent again (use --resend)"
        ),
        Event::Skipped {
            pi,
            number,
            sent_at,
            changed: false,
        } if g.verbose => {
            println!("already sent on {sent_at}: statement {number} for {pi}")
        }
        Event::NotSent { pi, reason } => eprintln!("not sent to {pi}: {reason}"),
        _ => {}
    }
}

fn print_plan(m: &Email) {
    println!("{}", m.pi);
    match m.pi_name.as_str() {
        "" => println!("  to:       {}", m.recipients[0]),
        name => println!("  to:       {name} <{}>", m.recipients[0]),
    }
    if m.recipients.len() > 1 {
        println!("  cc:       {}", m.recipients[1..].join(", "));
    }
    println!("  subject:  {}", m.subject);
    for (i, p) in m.parts.iter().enumerate() {
        let s = &p.statement;
        let label = if i == 0 { "attach:" } else { "" };
        let again = match &p.previously {
            Some((at, true)) => format!(" (changed since sent on {at})"),
            Some((at, false)) => format!(" (again; sent on {at})"),
            None => String::new(),
        };
        println!(
            "  {label:<9} {}  {} {}{again}",
            p.filename(),
            if s.project_name.is_empty() {
                &s.project_id
            } else {
                &s.project_name
            },
            s.amounts.billed
        );
    }
    for t in &m.totals {
        println!(
            "  total:    {} due (list {}, covered {})",
            t.amounts.billed, t.amounts.list, t.amounts.discount
        );
    }
}

fn recipients(m: &Email) -> String {
    match m.recipients.len() {
        1 => m.recipients[0].clone(),
        _ => format!("{} (cc {})", m.recipients[0], m.recipients[1..].join(", ")),
    }
}

fn contents(m: &Email) -> String {
    let due: Vec<&str> = m.totals.iter().map(|t| t.amounts.billed.as_str()).collect();
    format!(
        "{} statement{}, {} due",
        m.parts.len(),
        plural(m.parts.len()),
        due.join(" + ")
    )
}

fn summarize(r: &Report, opts: &Options, g: &Global) {
    let p = opts.period;
    if r.held_charges > 0 && opts.mode != Mode::Smtp {
        eprintln!(
            "warning: {p} has {} held charge{}; sending for real refuses without --allow-held",
            r.held_charges,
            plural(r.held_charges)
        );
    }
    if !g.quiet {
        let n = format!("{} message{}", r.messages, plural(r.messages));
        let line = match opts.mode {
            Mode::DryRun => format!("dry run: would send {n} for {p}; nothing was sent"),
            Mode::Dev => format!(
                "dev mode: wrote {n} for {p}; nothing was sent; preview: {}",
                r.preview
                    .as_ref()
                    .map(|x| x.display().to_string())
                    .unwrap_or_default()
            ),
            Mode::Smtp if r.messages == 0 && r.not_sent.is_empty() => {
                format!("nothing to send for {p}")
            }
            Mode::Smtp => format!(
                "sent {n} for {p} via {}",
                r.server.as_deref().unwrap_or("SMTP")
            ),
        };
        println!("{line}");
        if r.already_sent > 0 {
            println!(
                "{} statement{} {} already sent (periods/{p}/deliveries.yaml)",
                r.already_sent,
                plural(r.already_sent),
                if r.already_sent == 1 { "was" } else { "were" }
            );
        }
    }
    if r.changed > 0 {
        eprintln!(
            "warning: {} statement{} changed since sent and {} not sent again; check them, then `ocb send --period {p} --resend`",
            r.changed,
            plural(r.changed),
            if r.changed == 1 { "was" } else { "were" }
        );
    }
    if !r.not_sent.is_empty() {
        eprintln!(
            "ocb: {} message{} not sent (run `ocb send --period {p}` again to retry them):",
            r.not_sent.len(),
            plural(r.not_sent.len())
        );
        for (pi, why) in &r.not_sent {
            eprintln!("  {pi}: {why}");
        }
    }
}
