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
pub(crate) fn config_fields() -> Vec<(&'static str, String, &'static str)> {
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
        assert_eq!(steps.1, AttackConfig::default().steps.to_string());
    }
}
