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
    let d = AttackConfig::default();
    println!(
        "\nDefaults: PGD {} steps of {} x eps, random start, {} restart(s); BIM {} steps; MI-FGSM {} steps; APGD {} steps; CW-L2 {} x {} steps from c = {}; Square {} queries.",
        d.steps, d.step_size, d.restarts, d.bim_steps, d.mifgsm_steps, d.apgd_steps, d.cw_search_steps, d.cw_steps, d.cw_c, d.square_queries
    );
    println!(
        "AutoAttack (standard): APGD-T {} steps x {} targets; FAB-T {} steps x {} targets; Square {} queries.",
        d.apgd_steps, d.apgdt_targets, d.fab_steps, d.fab_targets, d.autoattack_square_queries
    );
}
