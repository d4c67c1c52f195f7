//! Tests of `--all` as a whole: [`Plan`](super::Plan) runs against a stand-in for Helm,
//! merged and summed up, and the merge without `--all`.

use super::*;
use crate::inventory::{Confidence, Finding, Origin};
use crate::reference::Reference;

fn rendered(reference: &str, template: &str) -> Finding {
    Finding {
        reference: Reference::parse(reference).unwrap(),
        written: reference.to_owned(),
        origin: Origin::Rendered {
            template: Some(template.to_owned()),
            document: 1,
            line: 1,
            kind: "Deployment".into(),
            namespace: None,
            name: None,
            field: "spec.template.spec.containers[0].image".into(),
            container: None,
            needs: None,
        },
        confidence: Confidence::Certain,
        spot: None,
        kind: crate::inventory::Kind::Image,
    }
}

fn values(reference: &str, path: &str, off: Option<&str>) -> Finding {
    Finding {
        reference: Reference::parse(reference).unwrap(),
        written: reference.to_owned(),
        origin: Origin::Values {
            chart: "c".into(),
            path: path.into(),
            disabled_by: off.map(str::to_owned),
        },
        confidence: Confidence::Likely,
        spot: None,
        kind: crate::inventory::Kind::Image,
    }
}

/// Without --all: a values guess the default render answered otherwise (same image name,
/// another registry or tag) goes; one it confirms stays, as do guesses it did not answer
/// and switched-off ones (left to --all).
#[test]
fn default_merge_drops_guesses_the_render_answered() {
    let rendered = vec![rendered(
        "reg.kyverno.io/kyverno/kyverno:v1.14.5",
        "kyverno/templates/deployment.yaml",
    )];
    let declared = vec![
        values("docker.io/kyverno/kyverno:v1.14.5", "admission.image", None),
        values(
            "reg.kyverno.io/kyverno/kyverno:v1.14.5",
            "admission.image",
            None,
        ),
        values("quay.io/prometheus/busybox:latest", "init.image", None),
        values(
            "docker.io/kyverno/kyverno:v1.14.5",
            "extra.image",
            Some("extra.enabled=false"),
        ),
    ];
    let got: Vec<(String, bool)> = merge_default(rendered, declared)
        .iter()
        .map(|f| (f.reference.canonical(), f.enabled()))
        .collect();
    assert_eq!(
        got,
        [
            ("reg.kyverno.io/kyverno/kyverno:v1.14.5".to_owned(), true),
            ("reg.kyverno.io/kyverno/kyverno:v1.14.5".to_owned(), true),
            ("quay.io/prometheus/busybox:latest".to_owned(), true),
            ("docker.io/kyverno/kyverno:v1.14.5".to_owned(), false),
        ]
    );
}

fn switch(path: &str, requires: Option<usize>) -> Switch {
    let keys: Vec<String> = path.split('.').map(str::to_owned).collect();
    Switch {
        group: keys[0].clone(),
        keys,
        kind: Kind::Feature,
        requires,
    }
}

/// Runs the plan with `helm`: the images a render with those `--set`s shows, or an error.
fn run(plan: &mut Plan, helm: impl Fn(&[String]) -> Result<Vec<&'static str>, String>) {
    loop {
        let batch = plan.next_batch();
        if batch.is_empty() {
            return;
        }
        for request in batch {
            let outcome = helm(&request.sets)
                .map(|images| images.iter().map(|i| rendered(i, "t.yaml")).collect());
            plan.record(request.id, outcome);
        }
    }
}

fn needs(findings: &[Finding], reference: &str) -> Option<String> {
    findings
        .iter()
        .find(|f| f.reference.canonical() == reference)
        .unwrap_or_else(|| panic!("{reference} missing"))
        .origin
        .disabled_by()
        .map(str::to_owned)
}

#[test]
fn all_at_once_then_groups_then_singles_name_the_fewest_switches() {
    let switches = vec![
        switch("a.x.enabled", None),
        switch("a.y.enabled", None),
        switch("b.enabled", None),
        switch("b.sm.enabled", Some(2)),
    ];
    let default = vec![rendered("web:1", "t.yaml")];
    let mut plan = Plan::new(switches, &default, DEFAULT_CAP);
    run(&mut plan, |sets| {
        let mut out = vec!["web:1"];
        if sets.contains(&"a.y.enabled=true".to_owned()) {
            out.push("ghcr.io/a/y:1");
        }
        if sets.contains(&"b.enabled=true".to_owned()) {
            out.push("ghcr.io/b/b:1");
        }
        Ok(out)
    });
    // all; groups a and b; singles a.x, a.y and b (b.sm needs b: that is group b again).
    assert_eq!(plan.renders_run(), 6);
    let merged = plan.merge(default, vec![]);
    assert_eq!(needs(&merged, "docker.io/library/web:1"), None);
    assert_eq!(
        needs(&merged, "ghcr.io/a/y:1").as_deref(),
        Some("a.y.enabled=true")
    );
    assert_eq!(
        needs(&merged, "ghcr.io/b/b:1").as_deref(),
        Some("b.enabled=true")
    );
    assert_eq!(merged.len(), 3);
    assert!(plan.not_rendered().is_empty());
    assert_eq!(
        plan.summary().to_string(),
        "--all: 4 switches off by default, 6 extra renders; every switch rendered"
    );
}

#[test]
fn nothing_new_means_one_render() {
    let mut plan = Plan::new(
        vec![switch("a.enabled", None), switch("b.enabled", None)],
        &[rendered("web:1", "t.yaml")],
        DEFAULT_CAP,
    );
    run(&mut plan, |_| Ok(vec!["web:1"]));
    assert_eq!(plan.renders_run(), 1);
}

#[test]
fn failures_fall_back_to_groups_then_singles() {
    let switches = vec![
        switch("f.a.enabled", None),
        switch("f.b.enabled", None),
        switch("vault.enabled", None),
    ];
    let mut plan = Plan::new(switches, &[], DEFAULT_CAP);
    run(&mut plan, |sets| {
        let on = |s: &str| sets.contains(&format!("{s}=true"));
        if on("vault.enabled") {
            return Err("execution error: vault.password is required".into());
        }
        if on("f.a.enabled") && on("f.b.enabled") {
            return Err("execution error: a and b cannot both be on".into());
        }
        let mut out = vec![];
        if on("f.a.enabled") {
            out.push("a:1");
        }
        if on("f.b.enabled") {
            out.push("b:2");
        }
        Ok(out)
    });
    // all (fails); groups f (fails) and vault (fails); singles f.a and f.b.
    assert_eq!(plan.renders_run(), 5);
    assert_eq!(
        plan.not_rendered(),
        [(
            "vault.enabled".to_owned(),
            "execution error: vault.password is required".to_owned()
        )]
    );
    let declared = vec![
        values("a:1", "f.a.image", Some("f.a.enabled=false")),
        values(
            "docker.io/library/invented:latest",
            "f.b.image",
            Some("f.b.enabled=false"),
        ),
        values("vault:3", "vault.image", Some("vault.enabled=false")),
        values("web:1", "web.image", None),
        values("init:1", "init.image", None),
        values("other:1", "x.image", Some("elsewhere.enabled=false")),
    ];
    let merged = plan.merge(vec![rendered("ghcr.io/clash/web:1.0", "t.yaml")], declared);
    let got: Vec<(String, Option<String>)> = merged
        .iter()
        .map(|f| {
            (
                f.reference.canonical(),
                f.origin.disabled_by().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("ghcr.io/clash/web:1.0".to_owned(), None),
            (
                "docker.io/library/a:1".to_owned(),
                Some("f.a.enabled=true".to_owned())
            ),
            (
                "docker.io/library/b:2".to_owned(),
                Some("f.b.enabled=true".to_owned())
            ),
            // Rendered with f.b on, yet no render showed it nor named it otherwise: kept,
            // off, saying so (another value may be needed to show it).
            (
                "docker.io/library/invented:latest".to_owned(),
                Some(
                    "values only: no render showed it with f.b.enabled=true (it may need another value)"
                        .to_owned()
                )
            ),
            (
                "docker.io/library/vault:3".to_owned(),
                Some(
                    "values only: no render with vault.enabled=true (execution error: vault.password is required)"
                        .to_owned()
                )
            ),
            // On by default and no rendered image of that name: the render missed it.
            ("docker.io/library/init:1".to_owned(), None),
            (
                "docker.io/library/other:1".to_owned(),
                Some("elsewhere.enabled=false".to_owned())
            ),
        ]
    );
}

#[test]
fn the_cap_bounds_the_renders_and_is_named() {
    let switches: Vec<Switch> = (0..10)
        .map(|i| switch(&format!("g.s{i}.enabled"), None))
        .collect();
    let mut plan = Plan::new(switches, &[], 4);
    run(&mut plan, |sets| {
        if sets.len() > 1 {
            Err("too many".into())
        } else {
            Ok(vec![])
        }
    });
    assert_eq!(plan.renders_run(), 4);
    let summary = plan.summary();
    assert_eq!(summary.over_cap, 7);
    assert_eq!(summary.not_rendered.len(), 7);
    assert_eq!(
        summary.not_rendered[0].1,
        "cap of 4 renders reached; with others: too many"
    );
    assert!(summary.to_string().contains("(7 more skipped: cap 4)"));
}
