//! Models dcrobust did not train: ONNX graphs (`--checkpoint onnx:PATH`, `onnx`) and PyTorch
//! state dicts of RobustBench's CIFAR architectures (`--checkpoint pt:ARCH:PATH`, `torch`).
//!
//! An external model takes images with pixel values in [0, 1], as RobustBench's models do; a
//! model trained on normalised inputs without normalising inside itself gets its mean and
//! standard deviation from `--input-mean` and `--input-std` (`Normalization`). Both kinds are
//! evaluated in inference mode and are differentiable in their input, so every attack, check and
//! corruption of the suites applies to them (docs/external-models.md).

pub(crate) mod onnx;
pub(crate) mod ops;
pub(crate) mod torch;

use std::fmt;
use std::path::PathBuf;

use anyhow::{bail, Context, Result as AnyResult};
use candle_core::{Device, Result, Tensor};
use serde::{Deserialize, Serialize};

pub(crate) use self::onnx::OnnxNet;
pub(crate) use self::torch::{TorchArch, TorchNet};

/// The first line of an error's message: candle appends a backtrace to some of its errors when
/// `RUST_BACKTRACE` is set, which a one-line refusal leaves out.
fn first_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The format of an external model file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExternalFormat {
    /// An ONNX graph.
    Onnx,
    /// A PyTorch state dict of this architecture.
    Torch(TorchArch),
}

impl fmt::Display for ExternalFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExternalFormat::Onnx => f.write_str("ONNX graph"),
            ExternalFormat::Torch(a) => write!(f, "PyTorch state dict ({a})"),
        }
    }
}

/// A `--checkpoint` item naming an external model: `onnx:PATH` or `pt:ARCH:PATH`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalSpec {
    /// Its format.
    pub(crate) format: ExternalFormat,
    /// The file.
    pub(crate) path: PathBuf,
    /// The normalisation applied to its inputs (`--input-mean`, `--input-std`), if any.
    pub(crate) normalization: Option<Normalization>,
}

impl ExternalSpec {
    /// Parses `item` when it starts with `onnx:` or `pt:`; `None` for any other item.
    pub fn parse(item: &str) -> Option<AnyResult<ExternalSpec>> {
        if let Some(path) = item.strip_prefix("onnx:") {
            if path.is_empty() {
                return Some(Err(anyhow::anyhow!(
                    "--checkpoint {item}: expected onnx:PATH, the path of an .onnx file"
                )));
            }
            return Some(Ok(ExternalSpec {
                format: ExternalFormat::Onnx,
                path: PathBuf::from(path),
                normalization: None,
            }));
        }
        let rest = item.strip_prefix("pt:")?;
        Some(match rest.split_once(':') {
            Some((arch, path)) if !path.is_empty() => TorchArch::parse(arch)
                .map(|a| ExternalSpec {
                    format: ExternalFormat::Torch(a),
                    path: PathBuf::from(path),
                    normalization: None,
                })
                .with_context(|| format!("--checkpoint {item}")),
            _ => Err(anyhow::anyhow!(
                "--checkpoint {item}: expected pt:ARCH:PATH, ARCH one of {}",
                TorchArch::NAMES
            )),
        })
    }

    /// How `suite.json` and the report record it: `onnx:PATH` or `pt:ARCH:PATH`.
    pub(crate) fn label(&self) -> String {
        match self.format {
            ExternalFormat::Onnx => format!("onnx:{}", self.path.display()),
            ExternalFormat::Torch(a) => format!("pt:{a}:{}", self.path.display()),
        }
    }

    /// The name results are keyed by: the file's name without its extension, with characters
    /// other than letters, digits, `-`, `_` and `.` replaced by `-`.
    pub(crate) fn model_name(&self) -> String {
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "external".into());
        stem.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    }
}

/// The per-channel normalisation applied before an external model: `(x − mean) / std`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Normalization {
    /// Per-channel mean.
    pub(crate) mean: Vec<f32>,
    /// Per-channel standard deviation (each above 0).
    pub(crate) std: Vec<f32>,
}

impl Normalization {
    /// Checks that `mean` and `std` have the same length and every deviation is positive.
    pub(crate) fn new(mean: Vec<f32>, std: Vec<f32>) -> AnyResult<Normalization> {
        if mean.len() != std.len() || mean.is_empty() {
            bail!(
                "--input-mean has {} values and --input-std {}; give one per channel to both",
                mean.len(),
                std.len()
            );
        }
        if let Some(s) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            bail!("--input-std {s}: every standard deviation must be above 0");
        }
        if let Some(m) = mean.iter().find(|m| !m.is_finite()) {
            bail!("--input-mean {m}: every mean must be a finite number");
        }
        Ok(Normalization { mean, std })
    }
}

enum Net {
    Onnx(OnnxNet),
    Torch(TorchNet),
}

/// An external model, loaded on a device and checked against the data.
pub struct ExternalModel {
    spec: ExternalSpec,
    net: Net,
    sha256: String,
    /// `(C,)` scale and shift of the normalisation: `1/std`, `−mean/std`.
    normalization: Option<(Tensor, Tensor)>,
    device: Device,
}

impl ExternalModel {
    /// Loads the model `spec` names on `device` (weights in f32), with its normalisation applied
    /// to its inputs.
    pub fn load(spec: &ExternalSpec, device: &Device) -> AnyResult<ExternalModel> {
        let bytes = std::fs::read(&spec.path)
            .with_context(|| format!("{}: cannot read the model file", spec.path.display()))?;
        let sha256 = crate::train::sha256_hex(&bytes);
        drop(bytes);
        let net = match spec.format {
            ExternalFormat::Onnx => Net::Onnx(OnnxNet::load(&spec.path, device)?),
            ExternalFormat::Torch(a) => Net::Torch(TorchNet::load(a, &spec.path, device)?),
        };
        let normalization = match &spec.normalization {
            Some(n) => {
                let scale: Vec<f32> = n.std.iter().map(|s| 1.0 / s).collect();
                let shift: Vec<f32> = n.mean.iter().zip(&n.std).map(|(m, s)| -m / s).collect();
                Some((
                    Tensor::new(scale.as_slice(), device)?,
                    Tensor::new(shift.as_slice(), device)?,
                ))
            }
            None => None,
        };
        Ok(ExternalModel {
            spec: spec.clone(),
            net,
            sha256,
            normalization,
            device: device.clone(),
        })
    }

    /// Checks that the model takes `channels`×`height`×`width` images and returns one logit per
    /// class, by the graph's declared input and a forward pass on one black image.
    pub fn check_fits(
        &self,
        channels: usize,
        height: usize,
        width: usize,
        classes: usize,
    ) -> AnyResult<()> {
        let file = self.spec.path.display();
        let want = |what: &str, model: String| -> AnyResult<()> {
            bail!(
                "{file}: the model takes {what} {model}, the data has {channels}x{height}x{width} images of {classes} classes"
            )
        };
        match &self.net {
            Net::Onnx(o) => {
                let d = o.input_dims();
                let data = [channels, height, width];
                if d.iter().zip(data).any(|(m, x)| m.is_some_and(|m| m != x)) {
                    let show = |v: Option<usize>| v.map_or("?".into(), |v| v.to_string());
                    return want(
                        "images of",
                        format!("{}x{}x{}", show(d[0]), show(d[1]), show(d[2])),
                    );
                }
            }
            Net::Torch(t) => {
                let s = t.image_size();
                if channels != 3 || height != s || width != s {
                    return want("images of", format!("3x{s}x{s} ({})", t.arch()));
                }
            }
        }
        if let Some((scale, _)) = &self.normalization {
            if scale.elem_count() != channels {
                bail!(
                    "--input-mean/--input-std give {} channels; the data's images have {channels}",
                    scale.elem_count()
                );
            }
        }
        let x = Tensor::zeros(
            (1, channels, height, width),
            candle_core::DType::F32,
            &self.device,
        )?;
        let y = self
            .forward(&x)
            .with_context(|| format!("{file}: evaluating the model on a black image"))?;
        if y.dims() != [1, classes] {
            return want("them to outputs of shape", format!("{:?}", y.dims()));
        }
        Ok(())
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = match &self.normalization {
            Some((scale, shift)) => crate::kernels::fused::channel_affine(x, scale, shift, false)?,
            None => x.clone(),
        };
        match &self.net {
            Net::Onnx(o) => o.forward(&x),
            Net::Torch(t) => t.forward(&x),
        }
    }

    /// SHA-256 of the file, in hex.
    pub(crate) fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Parameters: the weights of the architecture, or the elements of an ONNX graph's
    /// floating-point initializers.
    pub(crate) fn num_parameters(&self) -> usize {
        match &self.net {
            Net::Onnx(o) => o.num_parameters(),
            Net::Torch(t) => t.num_parameters(),
        }
    }
}

impl dcrobust_attacks::Model for ExternalModel {
    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.forward(x)
    }

    fn device(&self) -> Device {
        self.device.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn specs_parse_with_clear_errors() {
        let s = ExternalSpec::parse("pt:wrn-28-10:models/Carmon2019.pt")
            .unwrap()
            .unwrap();
        assert_eq!(
            s.format,
            ExternalFormat::Torch(TorchArch::WideResNet {
                depth: 28,
                widen: 10
            })
        );
        assert_eq!(s.label(), "pt:wrn-28-10:models/Carmon2019.pt");
        assert_eq!(s.model_name(), "Carmon2019");
        let o = ExternalSpec::parse("onnx:a b/net v2.onnx")
            .unwrap()
            .unwrap();
        assert_eq!(o.model_name(), "net-v2");
        assert!(ExternalSpec::parse("zoo:all").is_none());
        assert!(ExternalSpec::parse("runs/x").is_none());
        let e = ExternalSpec::parse("pt:resnet50:x.pt")
            .unwrap()
            .unwrap_err();
        assert!(
            format!("{e:#}").contains("unknown architecture `resnet50`"),
            "{e:#}"
        );
        let e = ExternalSpec::parse("pt:x.pt").unwrap().unwrap_err();
        assert!(format!("{e:#}").contains("expected pt:ARCH:PATH"), "{e:#}");
        assert!(ExternalSpec::parse("onnx:").unwrap().is_err());
    }

    /// The fixtures of `tests/fixtures/external/` (from the working directory, as on the GPU
    /// machine, else from this checkout).
    fn fixtures() -> PathBuf {
        let here = PathBuf::from("tests/fixtures/external");
        if here.is_dir() {
            here
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external")
        }
    }

    /// Logits `(N, K)` and the input gradient of the summed cross-entropy, on the host.
    fn logits_and_grad(m: &ExternalModel, x: &Tensor, y: &Tensor) -> (Vec<f32>, Vec<f32>) {
        use dcrobust_attacks::Model;
        let dev = m.device();
        let xv = candle_core::Var::from_tensor(&x.to_device(&dev).unwrap()).unwrap();
        let y = y.to_device(&dev).unwrap();
        let logits = m.logits(xv.as_tensor()).unwrap();
        let n = x.dim(0).unwrap() as f64;
        let loss = (candle_nn::loss::cross_entropy(&logits, &y).unwrap() * n).unwrap();
        let g = loss.backward().unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        (flat(&logits), flat(g.get(xv.as_tensor()).unwrap()))
    }

    /// Oracle: the CPU evaluation (itself checked against PyTorch by tests/external.rs). On a
    /// CUDA device (cuDNN convolutions under FP32 math, candle's CUDA operations), every fixture's
    /// logits agree within 1e-4 of the largest logit and its input gradients within 1e-3 of the
    /// largest entry. Needs a CUDA device: without one it says so and passes, unless
    /// `DCROBUST_REQUIRE_GPU` is set (`.ci/gpu-check` sets it).
    #[test]
    fn the_gpu_matches_the_cpu_on_the_fixtures() {
        let Some(gpu) =
            crate::kernels::testing::cuda_or_skip("the external models' GPU comparison")
        else {
            return;
        };
        let _settings = crate::kernels::testing::conv_settings();
        let dir = fixtures();
        let refs = candle_core::safetensors::load(dir.join("reference.safetensors"), &Device::Cpu)
            .unwrap();
        let (x, y) = (
            &refs["x"],
            refs["y"].to_dtype(candle_core::DType::U32).unwrap(),
        );
        for item in [
            "pt:preact-resnet18:preact-resnet18.pt",
            "pt:resnet18:resnet18.pth",
            "pt:wrn-28-1:wrn-28-1.safetensors",
            "pt:wrn-34-1:wrn-34-1.safetensors",
            "onnx:preact-resnet18-normalized.onnx",
            "onnx:small-cnn.onnx",
            "onnx:preact-resnet18-dynamo.onnx",
        ] {
            let (kind, file) = item.rsplit_once(':').unwrap();
            let spec = ExternalSpec::parse(&format!("{kind}:{}", dir.join(file).display()))
                .unwrap()
                .unwrap();
            let cpu = logits_and_grad(&ExternalModel::load(&spec, &Device::Cpu).unwrap(), x, &y);
            let cuda = logits_and_grad(&ExternalModel::load(&spec, &gpu).unwrap(), x, &y);
            let worst = |a: &[f32], b: &[f32]| {
                let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
                let d = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
                (d, scale)
            };
            let (dl, sl) = worst(&cpu.0, &cuda.0);
            let (dg, sg) = worst(&cpu.1, &cuda.1);
            eprintln!(
                "{item}: logits within {dl:.2e} of {sl:.2e}, gradients within {dg:.2e} of {sg:.2e}"
            );
            assert!(dl <= 1e-4 * sl.max(1.0), "{item}: logits differ by {dl}");
            assert!(dg <= 1e-3 * sg, "{item}: gradients differ by {dg}");
        }
    }

    #[test]
    fn normalization_rejects_bad_values() {
        assert!(Normalization::new(vec![0.5; 3], vec![0.25; 3]).is_ok());
        assert!(Normalization::new(vec![0.5; 3], vec![0.25; 2]).is_err());
        assert!(Normalization::new(vec![0.5; 3], vec![0.25, 0.0, 0.1]).is_err());
        assert!(Normalization::new(vec![f32::NAN; 3], vec![0.25; 3]).is_err());
    }
}
