//! `ocb.yaml`: one serde struct with defaults and `deny_unknown_fields`, then
//! `validate()` for what serde cannot check (regexes, currency codes, templates).

use crate::charge::FlagCode;
use crate::problem::Problem;
use anyhow::{Result, bail};
use regex::Regex;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub organization: Organization,
    pub currency: String,
    pub tags: TagKeys,
    pub sources: BTreeMap<String, SourceConfig>,
    pub review: ReviewConfig,
    pub journal: JournalConfig,
    pub site: SiteConfig,
    pub pdf: PdfConfig,
    pub email: EmailConfig,
    pub billing: BillingConfig,
    /// Credit programs (first_months, monthly_cap), applied in this order.
    pub credits: Vec<crate::ledger::terms::CreditProgram>,
    /// Percent surcharges on what remains due, applied in this order.
    pub surcharges: Vec<crate::ledger::terms::Surcharge>,
    /// How messages name this file: `--config` relative to the repository
    /// (`ocb.yaml` by default). Not a key of the file.
    #[serde(skip)]
    pub shown: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            organization: Organization::default(),
            currency: "USD".into(),
            tags: TagKeys::default(),
            sources: BTreeMap::new(),
            review: ReviewConfig::default(),
            journal: JournalConfig::default(),
            site: SiteConfig::default(),
            pdf: PdfConfig::default(),
            email: EmailConfig::default(),
            billing: BillingConfig::default(),
            credits: Vec::new(),
            surcharges: Vec::new(),
            shown: "ocb.yaml".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Organization {
    pub name: String,
    pub address: String,
    pub contact: String,
    pub logo: Option<String>,
}

impl Default for Organization {
    fn default() -> Self {
        Organization {
            name: "Research Computing".into(),
            address: String::new(),
            contact: String::new(),
            logo: None,
        }
    }
}

/// Keys in the FOCUS `Tags` JSON where attribution lives.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TagKeys {
    pub pi_email: String,
    /// The PI's display name, read by `ocb projects add --from-data`.
    pub pi_name: String,
    pub project_id: String,
    pub fund_org: String,
    pub cost_center: String,
    pub reference_1: Option<String>,
    pub reference_2: Option<String>,
    /// Prefixes a provider puts before tag keys (AWS: `user:`); a key is
    /// found as written first, then after any of these.
    pub prefixes: Vec<String>,
}

impl Default for TagKeys {
    fn default() -> Self {
        TagKeys {
            pi_email: "pi_email".into(),
            pi_name: "pi_name".into(),
            project_id: "project_id".into(),
            fund_org: "fund_org".into(),
            cost_center: "cost_center".into(),
            reference_1: None,
            reference_2: None,
            prefixes: vec!["user:".into(), "resourceTags/user:".into()],
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    /// Display name; the file stem when absent.
    pub name: Option<String>,
    /// GL account debited and credited for this source's charges.
    pub account: Option<String>,
    /// Fund/org credited in the `gl` journal (the service provider's fund).
    pub credit_fund_org: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    Hold,
    Warn,
    Off,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewConfig {
    pub fund_org_patterns: Vec<String>,
    pub flag_patterns: Vec<String>,
    pub spike: SpikeConfig,
    /// Per flag code: hold the charge, only warn, or ignore the rule.
    pub rules: BTreeMap<String, RuleAction>,
    /// Statements warn when the project ends within this many days.
    pub expiry_warning_days: u32,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            fund_org_patterns: Vec::new(),
            flag_patterns: Vec::new(),
            spike: SpikeConfig::default(),
            rules: BTreeMap::new(),
            expiry_warning_days: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpikeConfig {
    pub ratio: Decimal,
    pub min_amount: Decimal,
}

impl Default for SpikeConfig {
    fn default() -> Self {
        SpikeConfig {
            ratio: Decimal::new(3, 0),
            min_amount: Decimal::new(500, 0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalFormat {
    Gl,
    Detail,
    Summary,
    Template,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    pub format: JournalFormat,
    /// Path (relative to the repository root) of a minijinja template, for `format: template`.
    pub template: Option<String>,
    /// Named groups split fund_org into parts that become journal columns.
    pub fund_org_regex: Option<String>,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            format: JournalFormat::Gl,
            template: None,
            fund_org_regex: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteConfig {
    pub title: String,
    pub base_url: String,
    pub theme: String,
    /// `public`: one site for everyone; `per_pi`: a portal per PI plus server rules.
    pub access: Access,
    /// Logins that see everything (`admin/`) with `access: per_pi`.
    pub admins: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Public,
    PerPi,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            title: "Research Computing Charges".into(),
            base_url: "/".into(),
            theme: "default".into(),
            access: Access::Public,
            admins: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Paper {
    Letter,
    A4,
}

/// Which FOCUS amount PIs are charged.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    pub basis: Basis,
}

/// `billed`: BilledCost, the invoice basis. `effective`: EffectiveCost, with
/// commitments (savings plans, reservations) amortised over the usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    #[default]
    Billed,
    Effective,
}

impl Basis {
    /// How statements, journals and pages name the amount.
    pub fn describe(self) -> &'static str {
        match self {
            Basis::Billed => "billed cost (FOCUS BilledCost, the invoice basis)",
            Basis::Effective => {
                "effective cost (FOCUS EffectiveCost: commitments such as savings plans and reservations amortised over the usage)"
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PdfConfig {
    pub chrome: Option<String>,
    pub paper: Paper,
    /// Tabs printing at once; 0 means the number of cores.
    pub concurrency: usize,
}

impl Default for PdfConfig {
    fn default() -> Self {
        PdfConfig {
            chrome: None,
            paper: Paper::Letter,
            concurrency: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    Starttls,
    Tls,
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    /// PEM file of extra trusted root certificates (an internal CA), relative
    /// to the billing repository; the Mozilla roots stay trusted too.
    pub ca_file: Option<String>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: "localhost".into(),
            port: 587,
            tls: Tls::Starttls,
            username_env: Some("OCB_SMTP_USER".into()),
            password_env: Some("OCB_SMTP_PASSWORD".into()),
            ca_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    pub from: String,
    pub subject: String,
    pub smtp: SmtpConfig,
    pub dev_mode: bool,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            from: "Research Computing Billing <rc-billing@example.edu>".into(),
            subject: "Research computing charges for {{ period }}".into(),
            smtp: SmtpConfig::default(),
            dev_mode: false,
        }
    }
}

impl Config {
    /// Read `path`; defaults when it does not exist. Errors name the file, line and key.
    pub fn load(path: &Path, shown_as: &str) -> Result<Config> {
        let named = Config {
            shown: shown_as.to_string(),
            ..Config::default()
        };
        let Some(text) =
            crate::yaml_file::text(path, shown_as).map_err(|p| anyhow::anyhow!("{p}"))?
        else {
            return Ok(named);
        };
        let mut config: Config = serde_yaml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}", Problem::yaml(shown_as, &e)))?;
        config.shown = shown_as.to_string();
        config.validate(shown_as)?;
        Ok(config)
    }

    fn validate(&self, file: &str) -> Result<()> {
        let code = &self.currency;
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            bail!("{file}: key `currency`: `{code}` is not an ISO 4217 code such as USD");
        }
        for (key, list) in [
            ("review.fund_org_patterns", &self.review.fund_org_patterns),
            ("review.flag_patterns", &self.review.flag_patterns),
        ] {
            for p in list {
                Regex::new(p).map_err(|e| {
                    anyhow::anyhow!("{file}: key `{key}`: invalid regex `{p}`: {e}")
                })?;
            }
        }
        if let Some(p) = &self.journal.fund_org_regex {
            Regex::new(p).map_err(|e| {
                anyhow::anyhow!("{file}: key `journal.fund_org_regex`: invalid regex `{p}`: {e}")
            })?;
        }
        if self.journal.format == JournalFormat::Template && self.journal.template.is_none() {
            bail!("{file}: key `journal.template`: `format: template` needs a template file path");
        }
        for rule in self.review.rules.keys() {
            if FlagCode::parse(rule).is_none() {
                let codes = FlagCode::ALL.map(FlagCode::as_str);
                bail!(
                    "{file}: key `review.rules.{rule}`: unknown flag; expected one of {}",
                    codes.join(", ")
                );
            }
        }
        for login in &self.site.admins {
            if !crate::access::safe_login(login) {
                bail!(
                    "{file}: key `site.admins`: `{login}` is not a login (expected letters, digits and . _ % + ' @ -)"
                );
            }
        }
        if self.review.spike.ratio <= Decimal::ONE {
            bail!("{file}: key `review.spike.ratio`: must be greater than 1");
        }
        Ok(())
    }

    pub fn source_name<'a>(&'a self, source: &'a str) -> &'a str {
        self.sources
            .get(source)
            .and_then(|s| s.name.as_deref())
            .unwrap_or(source)
    }

    /// What a flag does unless configured: attribution problems hold; credits,
    /// expiry and spikes only warn, so that legal charges are not stopped.
    pub fn rule_action(&self, code: FlagCode) -> RuleAction {
        if let Some(a) = self.review.rules.get(code.as_str()) {
            return *a;
        }
        match code {
            FlagCode::NegativeCost | FlagCode::CostSpike | FlagCode::BilledOverList => {
                RuleAction::Warn
            }
            _ => RuleAction::Hold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Config> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("ocb.yaml");
        std::fs::write(&p, text)?;
        Config::load(&p, "ocb.yaml")
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = load_text("currency: USD\nsite:\n  titel: x\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("ocb.yaml:3:3: site: unknown field `titel`"),
            "{err}"
        );
    }

    #[test]
    fn defaults_when_absent_and_values_checked() {
        let c = Config::load(Path::new("/nonexistent/ocb.yaml"), "ocb.yaml").unwrap();
        assert_eq!(c.currency, "USD");
        let err = load_text("currency: dollars\n").unwrap_err().to_string();
        assert!(err.contains("`currency`"), "{err}");
        let err = load_text("review:\n  fund_org_patterns: ['(']\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid regex"), "{err}");
    }
}
