use super::*;
use crate::models::{Angular, Magnitude, ModelConfig, OperatorConfig, Radius};
use crate::train::{TrainConfig, TrainOptions};

/// Oracle: the count of embedded test images each zoo model classifies correctly, recorded in
/// its `zoo.json` by `dcrobust zoo pack` from the same weights and images; inference is
/// deterministic and independent of batch size, so the count must match exactly (batch 100
/// here, `dcrobust zoo pack` uses 256 by default). The weights' SHA-256 is checked on load.
#[test]
fn zoo_models_classify_the_embedded_test_images_as_recorded() {
    let data = crate::data::embedded().unwrap();
    for m in models().unwrap() {
        let net = m.network(&Device::Cpu).unwrap();
        assert_eq!(m.meta.embedded_images, data.test.len(), "{}", m.meta.name);
        let got = correct(&net, &data, &data.test, 100).unwrap();
        assert_eq!(got, m.meta.embedded_correct, "{}", m.meta.name);
        assert_eq!(net.num_parameters(), m.meta.parameters, "{}", m.meta.name);
        // The history is the one the model was trained with: as many epochs as configured.
        assert_eq!(m.history().unwrap().epochs.len(), m.config.train.epochs);
    }
}

/// Oracle: the selection rules — `all` is every model, `standard`, `adversarial` (the
/// FGSM-trained models) and `controls` partition it, repeats collapse, directories pass through,
/// an unknown name is refused by name.
#[test]
fn checkpoint_specs_resolve() {
    let all = models().unwrap();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let names = |c: &[Checkpoint]| c.iter().map(|c| c.label()).collect::<Vec<_>>();
    if all.is_empty() {
        let e = resolve(&s(&["zoo:all"])).unwrap_err().to_string();
        assert!(e.contains("without zoo models"), "{e}");
        return;
    }
    let every = resolve(&s(&["zoo:all"])).unwrap();
    assert_eq!(every.len(), all.len());
    let std = resolve(&s(&["zoo:standard"])).ok().map_or(0, |v| v.len());
    let adv = resolve(&s(&["zoo:adversarial"]))
        .ok()
        .map_or(0, |v| v.len());
    let controls = resolve(&s(&["zoo:controls"])).ok().map_or(0, |v| v.len());
    assert_eq!(std + adv + controls, all.len());
    assert_eq!(adv, all.iter().filter(|m| m.fgsm_trained()).count());
    let twice = resolve(&s(&["zoo:all", "zoo:standard", "some/dir"])).unwrap();
    assert_eq!(twice.len(), all.len() + 1);
    assert_eq!(names(&twice).last().unwrap(), &PathBuf::from("some/dir"));
    let first = &all[0].meta.name;
    let one = resolve(&[format!("zoo:{first}")]).unwrap();
    assert_eq!(names(&one), vec![PathBuf::from(format!("zoo:{first}"))]);
    assert_eq!(one[0].model_name().unwrap(), *first);
    let e = resolve(&s(&["zoo:no-such-model"])).unwrap_err().to_string();
    assert!(
        e.contains("no model `no-such-model`") && e.contains(first.as_str()),
        "{e}"
    );
}

/// Oracle: Table 7 of the paper, looked up by operator and adversarial training; networks the
/// table does not hold get none.
#[test]
fn paper_accuracy_is_table_7() {
    let data = crate::data::embedded().unwrap();
    let mut cfg = RunConfig {
        version: "test".into(),
        model: ModelConfig::new(crate::models::Arch::Cnn9, None, 0.25),
        train: TrainConfig::recipe(crate::train::Recipe::Fast, 1, 0),
        data: crate::train::DataInfo::of(&data),
        weights_sha256: None,
    };
    assert_eq!(paper_accuracy(&cfg), Some(0.8535));
    cfg.train.adversarial = Some(crate::train::AdvTraining {
        attack: crate::train::AdvTrainAttack::Fgsm,
        eps: 8.0 / 255.0,
        steps: 1,
        step_size: 0.25,
        fraction: 0.5,
    });
    assert_eq!(paper_accuracy(&cfg), Some(0.8370));
    cfg.model.operator = Some(OperatorConfig {
        magnitude: Magnitude::from_name("tanh").unwrap(),
        angular: Angular::Cosine,
        radius: Radius::default(),
    });
    assert_eq!(paper_accuracy(&cfg), Some(0.8754));
    cfg.train.adversarial = None;
    assert_eq!(paper_accuracy(&cfg), Some(0.9145));
    cfg.model.operator.as_mut().unwrap().angular = Angular::Linear;
    assert_eq!(paper_accuracy(&cfg), None);
}

/// Oracles: a packed run loads back with the recorded embedded-image count (the same count
/// recomputed from the stored bytes), its configuration carries the stored weights' SHA-256,
/// and f16 is chosen exactly when it moves test accuracy by less than the tolerance (the two
/// accuracies are recorded, so the rule is checked from them). An unfinished run is refused.
#[test]
fn pack_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let mut data = crate::data::embedded().unwrap();
    data.truncate(Some(256), Some(200));
    let model = ModelConfig::new(crate::models::Arch::Cnn9, None, 0.0625);
    let mut tcfg = TrainConfig::recipe(crate::train::Recipe::Fast, 1, 0);
    tcfg.batch_size = 64;
    let run = tmp.path().join("run");
    let net = train::build_network(&model, 0, &Device::Cpu).unwrap();
    let opts = TrainOptions {
        resume: false,
        stop_after_epochs: None,
        progress: false,
    };
    train::train(&net, &model, &data, &tcfg, &run, &opts).unwrap();
    let into = tmp.path().join("zoo");
    let req = PackRequest {
        run: &run,
        name: "tiny",
        into: &into,
        command: Some("dcrobust train --width 0.0625"),
        trained_on: Some("test"),
        data: &data,
        batch_size: 64,
    };
    let meta = pack(&req).unwrap();
    let dir = into.join("tiny");
    let cfg: RunConfig = crate::util::read_json(&dir.join("config.json")).unwrap();
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    assert_eq!(cfg.weights_sha256, Some(train::sha256_hex(&bytes)));
    let back = train::network_from_weights(&cfg, &bytes, "w", "c", &Device::Cpu).unwrap();
    let full = crate::data::embedded().unwrap();
    assert_eq!(
        correct(&back, &full, &full.test, 128).unwrap(),
        meta.embedded_correct
    );
    assert_eq!(meta.test_images, 200);
    let moved = (meta.test_accuracy - meta.f32_test_accuracy).abs();
    assert_eq!(meta.weights_dtype == "f16", moved < HALF_TOLERANCE);
    let stored = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let want = if meta.weights_dtype == "f16" {
        safetensors::Dtype::F16
    } else {
        safetensors::Dtype::F32
    };
    for (name, t) in stored.tensors() {
        if !name.ends_with("num_batches_tracked") {
            assert_eq!(t.dtype(), want, "{name}");
        }
    }
    // A run stopped after one of two epochs cannot be packed.
    let run2 = tmp.path().join("run2");
    tcfg.epochs = 2;
    let opts = TrainOptions {
        stop_after_epochs: Some(1),
        ..opts
    };
    let net = train::build_network(&model, 0, &Device::Cpu).unwrap();
    let _ = train::train(&net, &model, &data, &tcfg, &run2, &opts);
    let e = pack(&PackRequest { run: &run2, ..req })
        .unwrap_err()
        .to_string();
    assert!(e.contains("trained 1 of its 2 epochs"), "{e}");
}

/// Oracle: CIFAR-10's class list. The embedded subset fits the zoo; the same images under other
/// class names do not, and evaluating a zoo model on them is refused with both lists named.
#[test]
fn zoo_models_need_cifar10() {
    let data = crate::data::embedded().unwrap();
    assert!(fits(&data));
    let mut renamed = data.clone();
    renamed.classes[3] = "kitten".into();
    assert!(!fits(&renamed));
    let Some(first) = models().unwrap().into_iter().next() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let e = crate::suite::prepare_models(
        crate::suite::ModelSource::Load(&[Checkpoint::Zoo(Box::new(first))]),
        &renamed,
        tmp.path(),
        &Device::Cpu,
        false,
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(
        e.contains("classifies CIFAR-10") && e.contains("kitten"),
        "{e}"
    );
}

/// Oracle: by hand: a recorded training command keeps every word but the `--data` values,
/// which become `PATH/TO/<last folder>` (trailing slash or `--data=` form alike); a
/// placeholder stays as it is.
#[test]
fn recorded_commands_name_no_folder_of_the_machine() {
    assert_eq!(
        super::pack::portable_command(
            "dcrobust train --data /home/me/data/cifar10/ --width 0.25 --out runs"
        ),
        "dcrobust train --data PATH/TO/cifar10 --width 0.25 --out runs"
    );
    assert_eq!(
        super::pack::portable_command("dcrobust train --data=../d/cifar10 --seed 0"),
        "dcrobust train --data=PATH/TO/cifar10 --seed 0"
    );
    assert_eq!(
        super::pack::portable_path("PATH/TO/cifar10"),
        "PATH/TO/cifar10"
    );
}
