//! What the site has published so far, carried by the build loop from one
//! period to the next: the slugs handed out, the statements and superseded
//! statements rendered, and the last period's billed amounts (a statement's
//! "change vs previous"). The renderers (`site`) only read it; the loop adds
//! each period once it is rendered.

use crate::period::Period;
use crate::pipeline::PeriodData;
use crate::rollup::{Rollup, StatementKey};
use crate::site::StatementRef;
use crate::slug::Slugs;
use rust_decimal::Decimal;
use std::collections::HashMap;

#[derive(Default, Clone)]
pub struct Published {
    pi_slugs: Slugs,
    project_slugs: Slugs,
    /// Every statement rendered, period by period.
    pub statements: Vec<StatementRef>,
    /// Superseded statements, rendered again with a banner (PDFs printed too).
    pub superseded: Vec<StatementRef>,
    /// Billed per statement key in the last period added.
    previous: (Option<Period>, HashMap<StatementKey, Decimal>),
}

/// A period's pages as rendered: its statements and superseded statements.
#[derive(Default)]
pub struct Rendered {
    pub statements: Vec<StatementRef>,
    pub superseded: Vec<StatementRef>,
}

impl Published {
    /// Slugs are handed out period by period, in key order, before the
    /// period's pages are rendered.
    pub fn claim_slugs(&mut self, data: &PeriodData) {
        for (pi, project) in keys(&data.rollup) {
            self.pi_slugs.get(pi);
            self.project_slugs.get(project);
        }
    }

    /// A period rendered (its slugs claimed before): its statements join the
    /// histories, and its amounts are the next period's previous ones.
    pub fn add(&mut self, data: &PeriodData, rendered: Rendered) {
        self.statements.extend(rendered.statements);
        self.superseded.extend(rendered.superseded);
        self.previous = (
            Some(data.dir.period),
            data.rollup
                .statements
                .iter()
                .map(|g| (g.key.clone(), g.sums.billed))
                .collect(),
        );
    }

    /// What a command that renders nothing carries on for the cache keys.
    pub fn advance(&mut self, data: &PeriodData) {
        self.claim_slugs(data);
        self.add(data, Rendered::default());
    }

    /// The billed amounts of the period before `period`, when it was the
    /// last one added.
    pub fn previous(&self, period: Period) -> Option<&HashMap<StatementKey, Decimal>> {
        (self.previous.0 == Some(period.prev())).then_some(&self.previous.1)
    }

    /// A PI's slug: `none` for a PI no period named.
    pub fn pi_slug(&self, pi: &str) -> &str {
        self.pi_slugs.known(pi).unwrap_or("none")
    }

    /// A project's slug: `none` for a project no period named.
    pub fn project_slug(&self, project: &str) -> &str {
        self.project_slugs.known(project).unwrap_or("none")
    }

    /// The slugs a period with this rollup would get: what earlier periods
    /// hand to this one's pages, part of its cache key (`crate::cache`).
    /// Slugs handed out before are kept, so only this period's names matter.
    pub fn slugs_of(&self, rollup: &Rollup) -> String {
        let mut pis = self.pi_slugs.clone();
        let mut projects = self.project_slugs.clone();
        keys(rollup)
            .iter()
            .map(|(pi, project)| {
                format!("{pi}={};{project}={}\n", pis.get(pi), projects.get(project))
            })
            .collect()
    }

    /// The statements rendered for `period`, in order.
    pub fn rows_of(&self, period: Period) -> Vec<StatementRef> {
        self.statements
            .iter()
            .filter(|s| s.period == period)
            .cloned()
            .collect()
    }
}

/// The (PI, project) of each statement, sorted.
fn keys(rollup: &Rollup) -> Vec<(&str, &str)> {
    let mut keys: Vec<(&str, &str)> = rollup
        .statements
        .iter()
        .map(|g| (g.key.pi.as_str(), g.key.project.as_str()))
        .collect();
    keys.sort();
    keys
}
