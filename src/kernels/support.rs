//! Helpers the custom operations share: contiguous slices, the f32/f64 dispatch, packed
//! gradients, and buffers filled without zeroing.

use candle_core::{Layout, Result, Tensor};

/// The part of a CPU buffer that a contiguous layout covers; `op` names the caller in the error.
pub(crate) fn contiguous_slice<'a, T>(v: &'a [T], l: &Layout, op: &str) -> Result<&'a [T]> {
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg(format!("{op}: arguments must be contiguous")))?;
    Ok(&v[a..b])
}

/// Matches f32 or f64 CPU storages of one dtype, binds each to its contiguous slice and wraps
/// the body's vector back into a storage of that dtype; anything else is an error naming `$name`.
macro_rules! float_dispatch {
    ($name:expr, [$(($s:expr, $l:expr)),+], |$($v:ident),+| $body:expr) => {{
        match ($($s,)+) {
            ($(candle_core::CpuStorage::F32($v),)+) => {
                $(let $v = $crate::kernels::support::contiguous_slice($v, $l, $name)?;)+
                candle_core::CpuStorage::F32($body)
            }
            ($(candle_core::CpuStorage::F64($v),)+) => {
                $(let $v = $crate::kernels::support::contiguous_slice($v, $l, $name)?;)+
                candle_core::CpuStorage::F64($body)
            }
            _ => candle_core::bail!("{}: expected f32 or f64 arguments of one dtype", $name),
        }
    }};
}
pub(crate) use float_dispatch;

/// Splits a backward kernel's packed output (one flat buffer holding several gradients one
/// after the other) into tensors of the given shapes; views, no copies.
///
/// # Shapes
/// `flat`: `(Σ elements,)` → one tensor per entry of `shapes`.
pub(crate) fn unpack<const K: usize>(flat: &Tensor, shapes: [&[usize]; K]) -> Result<[Tensor; K]> {
    let mut start = 0;
    let mut parts = Vec::with_capacity(K);
    for shape in shapes {
        let len: usize = shape.iter().product();
        parts.push(flat.narrow(0, start, len)?.reshape(shape)?);
        start += len;
    }
    if start != flat.elem_count() {
        candle_core::bail!("packed gradients: {} values for {start}", flat.elem_count());
    }
    parts
        .try_into()
        .map_err(|_| candle_core::Error::Msg("packed gradients: wrong count".into()))
}

/// A vector of `len` values that `fill` writes, every one of them, without zeroing it first
/// (a full-size `memset` per operation otherwise).
pub(crate) fn filled<T: Copy>(
    len: usize,
    fill: impl FnOnce(&mut [std::mem::MaybeUninit<T>]),
) -> Vec<T> {
    let mut v: Vec<std::mem::MaybeUninit<T>> = Vec::with_capacity(len);
    // SAFETY: `MaybeUninit` values need no initialisation.
    unsafe { v.set_len(len) };
    fill(&mut v);
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: every caller's `fill` writes every element, and `MaybeUninit<T>` has the layout
    // of `T`.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr().cast::<T>(), v.len(), v.capacity()) }
}

/// Whether the processor has AVX2 (checked once by `std`, then cached).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// Defines `fn $name<F: $bound>(args) -> ret` that calls `$inner` (an `#[inline(always)]`
/// function with the same signature) compiled for AVX2 when the processor has it, and for the
/// baseline x86-64 (SSE2) otherwise. Only the vector width changes, not the results: each
/// element goes through the same IEEE operations in the same order (Rust never fuses a
/// multiply and an add on its own), so both versions give bit-identical outputs. A visibility
/// before `fn` (`pub(super) fn ...`) is given to the defined function.
macro_rules! multiversion {
    ($(#[$doc:meta])* $vis:vis fn $name:ident<$g:ident: $bound:path>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $inner:ident) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name<$g: $bound>($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn fast<$g: $bound>($($arg: $ty),*) $(-> $ret)? {
                    $inner::<$g>($($arg),*)
                }
                if $crate::kernels::support::has_avx2() {
                    // SAFETY: the processor has AVX2, checked just above.
                    return unsafe { fast::<$g>($($arg),*) };
                }
            }
            $inner::<$g>($($arg),*)
        }
    };
}
pub(crate) use multiversion;
