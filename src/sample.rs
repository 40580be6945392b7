//! `ocb sample`: deterministic synthetic FOCUS data at any size, streamed to
//! disk, as a complete billing repository (config, projects, periods).

use crate::cli::SampleArgs;
use crate::period::Period;
use anyhow::{Context, Result};
use rust_decimal::Decimal;
use std::io::Write;
use std::path::Path;

/// SplitMix64: small, fast and the same on every machine, so samples are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Skewed pick: low indexes are much more likely (a few projects spend most).
    fn skewed(&mut self, n: u64) -> u64 {
        ((self.unit().powi(3)) * n as f64) as u64 % n.max(1)
    }
}

struct Service {
    source: &'static str,
    name: &'static str,
    category: &'static str,
    unit: &'static str,
    /// Typical list cost of one row, in micro-units.
    typical: u64,
    /// Share of list the PI pays, in percent.
    pays: u64,
}

const SERVICES: &[Service] = &[
    Service {
        source: "aws",
        name: "Amazon Elastic Compute Cloud",
        category: "Compute",
        unit: "Hours",
        typical: 2_400_000,
        pays: 85,
    },
    Service {
        source: "aws",
        name: "Amazon Simple Storage Service",
        category: "Storage",
        unit: "GB-Month",
        typical: 900_000,
        pays: 85,
    },
    Service {
        source: "aws",
        name: "Amazon SageMaker",
        category: "AI and Machine Learning",
        unit: "Hours",
        typical: 6_000_000,
        pays: 85,
    },
    Service {
        source: "aws",
        name: "Amazon Relational Database Service",
        category: "Databases",
        unit: "Hours",
        typical: 1_500_000,
        pays: 85,
    },
    Service {
        source: "azure",
        name: "Virtual Machines",
        category: "Compute",
        unit: "Hours",
        typical: 2_100_000,
        pays: 90,
    },
    Service {
        source: "azure",
        name: "Storage Accounts",
        category: "Storage",
        unit: "GB-Month",
        typical: 700_000,
        pays: 90,
    },
    Service {
        source: "hpc",
        name: "HPC standard",
        category: "Compute",
        unit: "Core-Hours",
        typical: 3_000_000,
        pays: 0,
    },
    Service {
        source: "hpc",
        name: "HPC gpu",
        category: "Compute",
        unit: "Core-Hours",
        typical: 9_000_000,
        pays: 0,
    },
    Service {
        source: "storage",
        name: "Research Storage",
        category: "Storage",
        unit: "GB-Month",
        typical: 4_000_000,
        pays: 50,
    },
];

const NAMES: &[(&str, &str, &str)] = &[
    ("a.lee", "Dr. Alice Lee", "Oceanography"),
    ("b.okafor", "Prof. Bola Okafor", "Genomics"),
    ("c.martin", "Dr. Carmen Martin", "Physics"),
    ("d.nguyen", "Dr. Duc Nguyen", "Computer Science"),
    ("e.schmidt", "Prof. Eva Schmidt", "Chemistry"),
    ("f.haddad", "Dr. Farah Haddad", "Neuroscience"),
    ("g.kim", "Prof. Grace Kim", "Earth Sciences"),
    ("h.ito", "Dr. Hiro Ito", "Linguistics"),
];

const TOPICS: &[&str] = &[
    "ocean-model",
    "genome-atlas",
    "dark-matter",
    "llm-eval",
    "catalysis",
    "brain-map",
    "seismic",
    "corpus",
    "climate-ens",
    "protein-fold",
    "galaxy-sim",
    "soil-micro",
];

struct Proj {
    id: String,
    pi: usize,
    fund: String,
    account: String,
}

fn projects(n: u32) -> Vec<Proj> {
    let pis = ((n as usize * 7).div_ceil(10)).clamp(1, usize::MAX);
    (0..n as usize)
        .map(|i| {
            let topic = TOPICS[i % TOPICS.len()];
            let id = if i < TOPICS.len() {
                topic.to_string()
            } else {
                format!("{topic}-{}", i / TOPICS.len() + 1)
            };
            let agency = ["NSF", "NIH", "DOE", "DEPT"][i % 4];
            Proj {
                id,
                pi: i % pis,
                fund: format!("{agency}-{:05}", 10000 + i * 37),
                account: format!("{:012}", 100_000_000_000u64 + i as u64 * 7919),
            }
        })
        .collect()
}

fn pi_email(i: usize) -> String {
    let (user, _, _) = NAMES[i % NAMES.len()];
    if i < NAMES.len() {
        format!("{user}@example.edu")
    } else {
        format!("{user}{}@example.edu", i / NAMES.len() + 1)
    }
}

pub fn generate(args: &SampleArgs) -> Result<u64> {
    let start: Period = args.start.parse().map_err(anyhow::Error::msg)?;
    let out = &args.out;
    std::fs::create_dir_all(out.join("periods"))
        .with_context(|| format!("cannot create `{}`", out.display()))?;
    let projects = projects(args.projects.max(1));
    write_repo_files(out, &projects)?;
    let mut rng = Rng(args.seed);
    let mut total = 0;
    let mut period = start;
    for _ in 0..args.periods {
        total += write_period(out, period, args.rows, &projects, &mut rng)?;
        period = period.next();
    }
    Ok(total)
}

fn write_repo_files(out: &Path, projects: &[Proj]) -> Result<()> {
    let mut p = String::from("# synthetic projects written by `ocb sample`\n");
    for pr in projects {
        let (_, name, dept) = NAMES[pr.pi % NAMES.len()];
        p.push_str(&format!(
            "- id: {}\n  name: \"{}\"\n  pi: {{email: {}, name: \"{name}\", department: \"{dept}\"}}\n  fund_org: \"{}\"\n  accounts: [\"{}\"]\n",
            pr.id,
            pr.id.replace('-', " "),
            pi_email(pr.pi),
            pr.fund,
            pr.account
        ));
    }
    std::fs::write(out.join("projects.yaml"), p)?;
    let config = "# written by `ocb sample`\norganization: {name: \"Example University Research Computing\", address: \"1 Campus Drive, Example City\", contact: \"rc-billing@example.edu\"}\nsources:\n  aws: {name: AWS, account: \"54100\", credit_fund_org: \"IT-CLOUD\"}\n  azure: {name: Azure, account: \"54110\", credit_fund_org: \"IT-CLOUD\"}\n  hpc: {name: HPC cluster, account: \"54200\", credit_fund_org: \"IT-HPC\"}\n  storage: {name: Research storage, account: \"54300\", credit_fund_org: \"IT-STORAGE\"}\nreview:\n  fund_org_patterns: ['(NSF|NIH|DOE|DEPT)-[0-9]{5}']\n";
    if !out.join("ocb.yaml").exists() {
        std::fs::write(out.join("ocb.yaml"), config)?;
    }
    Ok(())
}

const HEADER: &str = "BillingAccountId,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeClass,ChargeDescription,ServiceCategory,ServiceName,ProviderName,ResourceId,ResourceName,RegionId,SubAccountId,ConsumedQuantity,ConsumedUnit,ListCost,ContractedCost,EffectiveCost,BilledCost,Tags\n";

fn write_period(
    out: &Path,
    period: Period,
    rows: u64,
    projects: &[Proj],
    rng: &mut Rng,
) -> Result<u64> {
    let dir = out.join("periods").join(period.to_string());
    std::fs::create_dir_all(&dir)?;
    let mut files = std::collections::BTreeMap::new();
    for s in SERVICES {
        if !files.contains_key(s.source) {
            let f = std::fs::File::create(dir.join(format!("{}.csv", s.source)))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
            w.write_all(HEADER.as_bytes())?;
            files.insert(s.source, w);
        }
    }
    let start = period.first_day();
    let end = period.next().first_day();
    let hours = period.days() as u64 * 24;
    for i in 0..rows {
        let s = &SERVICES[rng.below(SERVICES.len() as u64) as usize];
        let p = &projects[rng.skewed(projects.len() as u64) as usize];
        let hour = i % hours;
        let day = start + chrono::Days::new(hour / 24);
        let list_micro = (s.typical as f64 * (0.05 + 2.0 * rng.unit() * rng.unit())) as i64 + 1;
        let credit = rng.below(200) == 0 && s.pays > 0;
        let (category, list, billed) = if credit {
            let c = -Decimal::new(list_micro * 3, 6);
            ("Credit", c, c)
        } else {
            let list = Decimal::new(list_micro, 6);
            (
                "Usage",
                list,
                (list * Decimal::new(s.pays as i64, 2)).round_dp(6),
            )
        };
        let qty = Decimal::new(1 + rng.below(4000) as i64, 2);
        let resource = format!("{}-{}-{:03}", s.source, p.id, rng.below(40));
        let tags = match rng.below(100) {
            0 => "{}".to_string(),
            1 => format!("{{\"project_id\":\"{}\"}}", p.id),
            _ => format!(
                "{{\"pi_email\":\"{}\",\"project_id\":\"{}\",\"fund_org\":\"{}\"}}",
                pi_email(p.pi),
                p.id,
                p.fund
            ),
        };
        let provider = match s.source {
            "aws" => "AWS",
            "azure" => "Microsoft",
            _ => "Example University",
        };
        // Untagged rows sit in a shared account no project claims: the build holds them.
        let acct = if tags == "{}" {
            "999999999999"
        } else {
            p.account.as_str()
        };
        let w = files.get_mut(s.source).context("sample file")?;
        writeln!(
            w,
            "{acct},USD,{start}T00:00:00Z,{end}T00:00:00Z,{day}T{h:02}:00:00Z,{day}T{h:02}:59:59Z,{category},,{desc},{cat},{name},{provider},{resource},{resource},us-east-1,{acct},{qty},{unit},{list},{list},{billed},{billed},\"{tags}\"",
            acct = acct,
            h = hour % 24,
            desc = if credit { "Research credit" } else { s.name },
            cat = s.category,
            name = s.name,
            unit = s.unit,
            tags = tags.replace('"', "\"\""),
        )?;
    }
    for (_, mut w) in files {
        w.flush()?;
    }
    Ok(rows)
}
