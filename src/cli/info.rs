//! `dcrobust models` and `dcrobust attacks`.

use crate::models::{Angular, Arch, Magnitude};
use dcrobust_attacks::{AttackConfig, AttackKind};

pub(crate) fn cmd_models() {
    println!("Architectures (--arch):");
    for a in Arch::ALL {
        println!("  {:<20} {}", a.name(), a.describe());
    }
    println!("\nOperators (--op): baseline = ordinary convolution, or a magnitude function h:");
    println!(
        "  {:<20} ordinary convolution: <w, x> = |w||x|cos(theta)",
        "baseline"
    );
    for m in Magnitude::ALL {
        println!("  {:<20} {}", m.name(), m.describe());
    }
    println!("\nAngular activations (--angular):");
    for g in Angular::ALL {
        println!("  {:<20} {}", g.name(), g.describe());
    }
}

pub(crate) fn cmd_attacks() {
    println!("Attacks (--attacks, --transfer-attacks):");
    for k in AttackKind::ALL {
        println!("  {:<10} {:<5} {}", k.name(), k.norm().name(), k.describe());
    }
    println!(
        "\nParameters (fields of an --attack-config JSON file; the options named in `dcrobust run --help` override them), with their defaults:"
    );
    for (name, value, about) in config_fields() {
        println!("  {name:<16} {value:<12} {about}");
    }
}

/// Every [`AttackConfig`] field: name, default value (as its JSON text; floats as the shortest
/// f32 text) and description, in declaration order.
fn config_fields() -> Vec<(&'static str, String, &'static str)> {
    let defaults = serde_json::to_value(AttackConfig::default()).unwrap_or_default();
    AttackConfig::FIELDS
        .iter()
        .map(|&(name, about)| {
            let value = match defaults.get(name) {
                None => String::new(),
                // The float fields are f32: print the shortest text that reads back the same.
                Some(serde_json::Value::Number(n)) if n.is_f64() => {
                    format!("{}", n.as_f64().unwrap_or(f64::NAN) as f32)
                }
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            };
            (name, value, about)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: serde's own serialisation of the default configuration names every field once;
    /// the listing must name the same set, in declaration order (the order serde writes them),
    /// each with a value.
    #[test]
    fn attack_listing_names_every_config_field() {
        let json = serde_json::to_string(&AttackConfig::default()).unwrap();
        let listed: Vec<&str> = config_fields().iter().map(|f| f.0).collect();
        let mut at = 0;
        for name in &listed {
            let key = format!("\"{name}\":");
            let pos = json
                .find(&key)
                .unwrap_or_else(|| panic!("{name} is not a field"));
            assert!(pos >= at, "{name} is listed out of declaration order");
            at = pos;
        }
        let fields = json.matches("\":").count();
        assert_eq!(listed.len(), fields, "{json}");
        assert!(config_fields().iter().all(|f| !f.1.is_empty()));
        let steps = config_fields()
            .into_iter()
            .find(|f| f.0 == "steps")
            .unwrap();
        assert_eq!(steps.1, AttackConfig::default().pgd.steps.to_string());
    }

    /// Oracle: the flat JSON form of the configuration before it was split into per-attack
    /// structs, byte for byte: `--attack-config` files and the `attack` of a suite's written
    /// configuration keep their keys and order.
    #[test]
    fn attack_config_json_keeps_its_flat_form() {
        let default = r#"{"steps":20,"step_size":0.25,"restarts":1,"random_start":true,"early_stop":true,"bim_steps":10,"mifgsm_steps":10,"mifgsm_decay":1.0,"apgd_steps":100,"apgd_restarts":1,"apgdt_targets":9,"fab_steps":100,"fab_restarts":1,"fab_targets":9,"fab_alpha_max":0.1,"fab_eta":1.05,"fab_beta":0.9,"autoattack_square_queries":5000,"cw_steps":100,"cw_search_steps":5,"cw_c":0.1,"cw_lr":0.01,"cw_kappa":0.0,"square_queries":500,"square_p_init":0.8,"square_redraw":false,"target":"untargeted"}"#;
        assert_eq!(
            serde_json::to_string(&AttackConfig::default()).unwrap(),
            default
        );
        // A distinct value in every field, so that a field written under another's key fails.
        let mut c = AttackConfig {
            early_stop: false,
            target: dcrobust_attacks::Target::LeastLikely,
            ..AttackConfig::default()
        };
        c.pgd = dcrobust_attacks::PgdConfig {
            steps: 7,
            step_size: 0.3,
            restarts: 2,
            random_start: false,
        };
        c.bim.steps = 11;
        c.mifgsm.steps = 12;
        c.mifgsm.decay = 0.7;
        c.apgd.steps = 13;
        c.apgd.restarts = 3;
        c.apgd.targets = 4;
        c.fab = dcrobust_attacks::FabConfig {
            steps: 14,
            restarts: 5,
            targets: 6,
            alpha_max: 0.2,
            eta: 1.1,
            beta: 0.8,
        };
        c.autoattack.square_queries = 15;
        c.cw = dcrobust_attacks::CwConfig {
            steps: 16,
            search_steps: 7,
            c: 0.3,
            lr: 0.02,
            kappa: 0.5,
        };
        c.square = dcrobust_attacks::SquareConfig {
            queries: 17,
            p_init: 0.6,
            redraw: true,
        };
        let json = r#"{"steps":7,"step_size":0.3,"restarts":2,"random_start":false,"early_stop":false,"bim_steps":11,"mifgsm_steps":12,"mifgsm_decay":0.7,"apgd_steps":13,"apgd_restarts":3,"apgdt_targets":4,"fab_steps":14,"fab_restarts":5,"fab_targets":6,"fab_alpha_max":0.2,"fab_eta":1.1,"fab_beta":0.8,"autoattack_square_queries":15,"cw_steps":16,"cw_search_steps":7,"cw_c":0.3,"cw_lr":0.02,"cw_kappa":0.5,"square_queries":17,"square_p_init":0.6,"square_redraw":true,"target":"least-likely"}"#;
        assert_eq!(serde_json::to_string(&c).unwrap(), json);
        assert_eq!(serde_json::from_str::<AttackConfig>(json).unwrap(), c);
        let pretty = serde_json::to_string_pretty(&c).unwrap();
        assert_eq!(serde_json::from_str::<AttackConfig>(&pretty).unwrap(), c);
    }

    /// Oracle: serde's own messages for `deny_unknown_fields`, which the flat form keeps: an
    /// unknown key is refused by name with every accepted one listed, a repeated key is
    /// refused, and an absent key takes its default.
    #[test]
    fn attack_config_refuses_unknown_keys() {
        let err = serde_json::from_str::<AttackConfig>(r#"{"steps": 3, "bim_stpes": 4}"#)
            .unwrap_err()
            .to_string();
        let names: Vec<String> = AttackConfig::FIELDS
            .iter()
            .map(|f| format!("`{}`", f.0))
            .collect();
        assert!(
            err.starts_with(&format!(
                "unknown field `bim_stpes`, expected one of {}",
                names.join(", ")
            )),
            "{err}"
        );
        for dup in [
            r#"{"steps": 3, "steps": 4}"#,
            r#"{"cw_c": 0.3, "cw_c": 0.4}"#,
            r#"{"target": "random", "target": "random"}"#,
        ] {
            let err = serde_json::from_str::<AttackConfig>(dup).unwrap_err();
            assert!(err.to_string().contains("duplicate field"), "{dup}: {err}");
        }
        for bad in [
            r#"{"steps": "3"}"#,
            r#"{"square_redraw": 1}"#,
            r#"{"target": "nearest"}"#,
            r#"[]"#,
        ] {
            assert!(serde_json::from_str::<AttackConfig>(bad).is_err(), "{bad}");
        }
        let partial: AttackConfig =
            serde_json::from_str(r#"{"cw_c": 0.5, "early_stop": false, "bim_steps": 3}"#).unwrap();
        let mut want = AttackConfig {
            early_stop: false,
            ..AttackConfig::default()
        };
        want.cw.c = 0.5;
        want.bim.steps = 3;
        assert_eq!(partial, want);
        assert_eq!(
            serde_json::from_str::<AttackConfig>("{}").unwrap(),
            AttackConfig::default()
        );
    }
}
