//! Montgomery arithmetic modulo an odd modulus of `N` 64-bit words, for the MODP groups.
//!
//! Residues are `[u64; N]`, least significant word first, always fully reduced (below the
//! modulus `p`). Multiplication interleaves the product and its Montgomery reduction column by
//! column (product scanning), keeping each column's sum in registers; squaring forms each cross
//! product once and doubles them. The running time of every
//! operation depends only on `N` and, for exponentiation, on the exponent's bit bound (public),
//! never on the values: the final subtraction of a reduction and every table lookup select by
//! mask, and exponent windows are read at fixed positions.
//!
//! Two exponentiations: [`Montgomery::pow`] for any base (a fixed window of [`WINDOW`] bits over a
//! table of the base's powers), and [`FixedBase::pow`] for a base known in advance (the
//! generator), whose tables hold the base raised to every window digit at every `rounds`-th window
//! position the exponent bound covers, so it multiplies once per window and squares only between
//! rounds (a comb over windows, after Lim and Lee; Handbook of Applied Cryptography 14.6.3).

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::{Zeroize, Zeroizing};

/// Window width of the variable-base exponentiation, in bits (a table of 32 powers).
pub(super) const WINDOW: usize = 5;

/// Window width of the fixed-base exponentiation, in bits (tables of 16 powers).
pub(super) const FIXED_WINDOW: usize = 4;

/// A column sum of products: three words, least significant first.
#[derive(Default)]
struct Column {
    sum: [u64; 3],
}

impl Column {
    /// Adds `x y`.
    #[inline(always)]
    fn add(&mut self, x: u64, y: u64) {
        let product = u128::from(x) * u128::from(y);
        // Word by word, so that the additions stay one carry chain.
        let low = u128::from(self.sum[0]) + (product & u128::from(u64::MAX));
        self.sum[0] = low as u64;
        let high = u128::from(self.sum[1]) + (product >> 64) + (low >> 64);
        self.sum[1] = high as u64;
        self.sum[2] = self.sum[2].wrapping_add((high >> 64) as u64);
    }

    /// Adds twice `other`.
    #[inline(always)]
    fn add_twice(&mut self, other: &Column) {
        let [a, b, c] = other.sum;
        let doubled = [a << 1, (b << 1) | (a >> 63), (c << 1) | (b >> 63)];
        let low = u128::from(self.sum[0]) + u128::from(doubled[0]);
        self.sum[0] = low as u64;
        let high = u128::from(self.sum[1]) + u128::from(doubled[1]) + (low >> 64);
        self.sum[1] = high as u64;
        self.sum[2] = self.sum[2]
            .wrapping_add(doubled[2])
            .wrapping_add((high >> 64) as u64);
    }

    /// Adds `x_0 y_(n-1) + x_1 y_(n-2) + ... + x_(n-1) y_0` for `n` = `xs.len()` = `ys.len()`,
    /// four products per step.
    #[inline(always)]
    fn add_dot(&mut self, xs: &[u64], ys: &[u64]) {
        let (x4, y4) = (xs.chunks_exact(4), ys.rchunks_exact(4));
        let (x_rest, y_rest) = (x4.remainder(), y4.remainder());
        for (x, y) in x4.zip(y4) {
            self.add(x[0], y[3]);
            self.add(x[1], y[2]);
            self.add(x[2], y[1]);
            self.add(x[3], y[0]);
        }
        for (x, y) in x_rest.iter().zip(y_rest.iter().rev()) {
            self.add(*x, *y);
        }
    }

    /// The lowest word, then shifts it out.
    #[inline(always)]
    fn shift(&mut self) -> u64 {
        let [low, mid, top] = self.sum;
        self.sum = [mid, top, 0];
        low
    }
}

/// `a - b - borrow` word by word into `out`; returns the final borrow (0 or 1).
#[inline(always)]
fn sub_words(a: &[u64], b: &[u64], out: &mut [u64]) -> u64 {
    let mut borrow = 0u64;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let (d1, b1) = x.overflowing_sub(y);
        let (d2, b2) = d1.overflowing_sub(borrow);
        *o = d2;
        borrow = u64::from(b1 | b2);
    }
    borrow
}

/// Whether `a < b`, for public values (variable time).
pub(super) fn less_than<const N: usize>(a: &[u64; N], b: &[u64; N]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// The reduction multipliers of one multiplication; reused across the operations of one
/// exponentiation and zeroized on drop.
pub(super) struct Scratch<const N: usize>([u64; N]);

impl<const N: usize> Scratch<N> {
    pub(super) fn new() -> Self {
        Scratch([0; N])
    }
}

impl<const N: usize> Drop for Scratch<N> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Arithmetic modulo one odd `p` with `R = 2^(64 N)`.
#[derive(Clone)]
pub(super) struct Montgomery<const N: usize> {
    p: [u64; N],
    /// `-p^-1 mod 2^64`.
    n0: u64,
    /// `R mod p`: one in Montgomery form.
    one: [u64; N],
    /// `R^2 mod p`, to bring values into Montgomery form.
    r2: [u64; N],
}

impl<const N: usize> Montgomery<N> {
    /// Precomputes the constants for `p`, which must be odd with a non-zero top word.
    pub(super) fn new(p: [u64; N]) -> Self {
        assert!(
            N > 0 && p[0] & 1 == 1 && p[N - 1] != 0,
            "modulus must be odd and full"
        );
        // Newton's iteration doubles the correct low bits of p^-1 mod 2^64 each step: p is its own
        // inverse mod 8 (3 bits), so five steps give 96 >= 64.
        let mut inv = p[0];
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(p[0].wrapping_mul(inv)));
        }
        debug_assert_eq!(p[0].wrapping_mul(inv), 1);
        // R mod p and R^2 mod p by doubling 1 modulo p (public values, done once per group).
        let mut x = [0u64; N];
        x[0] = 1;
        let mut one = [0u64; N];
        for round in 0..2 {
            for _ in 0..64 * N {
                Self::double_public(&mut x, &p);
            }
            if round == 0 {
                one = x;
            }
        }
        Montgomery {
            p,
            n0: inv.wrapping_neg(),
            one,
            r2: x,
        }
    }

    /// `x = 2 x mod p` for `x < p` (variable time: only for public constants).
    fn double_public(x: &mut [u64; N], p: &[u64; N]) {
        let mut top = 0;
        for w in x.iter_mut() {
            let next = *w >> 63;
            *w = (*w << 1) | top;
            top = next;
        }
        if top == 1 || !less_than(x, p) {
            let mut d = [0u64; N];
            sub_words(x, p, &mut d);
            *x = d;
        }
    }

    /// The modulus.
    pub(super) fn modulus(&self) -> &[u64; N] {
        &self.p
    }

    /// One in Montgomery form.
    pub(super) fn one(&self) -> [u64; N] {
        self.one
    }

    /// `x R mod p` for `x < p`.
    pub(super) fn enter_montgomery(&self, x: &[u64; N], s: &mut Scratch<N>) -> [u64; N] {
        self.mul(x, &self.r2, s)
    }

    /// `x R^-1 mod p`: leaves Montgomery form.
    pub(super) fn leave_montgomery(&self, x: &[u64; N], s: &mut Scratch<N>) -> [u64; N] {
        let mut one = [0u64; N];
        one[0] = 1;
        self.mul(x, &one, s)
    }

    /// `a b R^-1 mod p`, column by column: each column adds its products `a_i b_j` and the
    /// reduction's `m_i p_j`, and for the low half chooses `m_k` to clear its word (Koc, Acar and
    /// Kaliski's "finely integrated product scanning").
    pub(super) fn mul(&self, a: &[u64; N], b: &[u64; N], s: &mut Scratch<N>) -> [u64; N] {
        let m = &mut s.0;
        let p = &self.p;
        let mut r = [0u64; N];
        let mut c = Column::default();
        for k in 0..N {
            c.add_dot(&a[..=k], &b[..=k]);
            self.reduce_low(&mut c, m, k);
        }
        for k in N..2 * N - 1 {
            let lo = k + 1 - N;
            c.add_dot(&a[lo..], &b[lo..]);
            c.add_dot(&m[lo..], &p[lo..]);
            r[k - N] = c.shift();
        }
        self.finish(c, r)
    }

    /// `a^2 R^-1 mod p`, as [`Self::mul`] with each column's cross products `a_i a_j`, `i < j`,
    /// added once and doubled.
    pub(super) fn square(&self, a: &[u64; N], s: &mut Scratch<N>) -> [u64; N] {
        let m = &mut s.0;
        let p = &self.p;
        let mut r = [0u64; N];
        let mut c = Column::default();
        for k in 0..N {
            let mut cross = Column::default();
            cross.add_dot(&a[..k.div_ceil(2)], &a[k / 2 + 1..=k]);
            c.add_twice(&cross);
            if k % 2 == 0 {
                c.add(a[k / 2], a[k / 2]);
            }
            self.reduce_low(&mut c, m, k);
        }
        for k in N..2 * N - 1 {
            let lo = k + 1 - N;
            let mut cross = Column::default();
            cross.add_dot(&a[lo..k.div_ceil(2)], &a[k / 2 + 1..]);
            c.add_twice(&cross);
            if k % 2 == 0 {
                c.add(a[k / 2], a[k / 2]);
            }
            c.add_dot(&m[lo..], &p[lo..]);
            r[k - N] = c.shift();
        }
        self.finish(c, r)
    }

    /// Column `k < N` of the reduction: adds `m_i p_(k-i)` for `i < k`, then picks `m_k` so that
    /// adding `m_k p_0` clears the column's low word, and shifts it out.
    #[inline(always)]
    fn reduce_low(&self, c: &mut Column, m: &mut [u64; N], k: usize) {
        c.add_dot(&m[..k], &self.p[1..=k]);
        // The low word of the column sum is the point.
        let mk = c.sum[0].wrapping_mul(self.n0);
        m[k] = mk;
        c.add(mk, self.p[0]);
        c.shift();
    }

    /// The last column's sum is the top word and a carry; the value `< 2p` then loses `p` once
    /// unless that would borrow past a zero carry (selected by mask).
    #[inline(always)]
    fn finish(&self, mut c: Column, mut r: [u64; N]) -> [u64; N] {
        r[N - 1] = c.shift();
        // At most one: the value is below 2p < 2R.
        let high = c.shift();
        let mut d = [0u64; N];
        let borrow = sub_words(&r, &self.p, &mut d);
        // Both are 0 or 1; the difference is right when high is set or nothing borrowed.
        let keep_difference = Choice::from((high | (borrow ^ 1)) as u8);
        for (x, y) in r.iter_mut().zip(&d) {
            x.conditional_assign(y, keep_difference);
        }
        d.zeroize();
        r
    }

    /// `base^e` (Montgomery form in and out) over the low `bits` bits of `e`, which must be zero
    /// above them; the running time depends on `bits`, not on `e` or `base`.
    pub(super) fn pow(&self, base: &[u64; N], e: &[u64; N], bits: usize) -> [u64; N] {
        let mut s = Scratch::new();
        let mut table = Zeroizing::new([[0u64; N]; 1 << WINDOW]);
        table[0] = self.one;
        table[1] = *base;
        for k in 2..1 << WINDOW {
            table[k] = if k % 2 == 0 {
                self.square(&table[k / 2], &mut s)
            } else {
                self.mul(&table[k - 1], base, &mut s)
            };
        }
        let windows = bits.div_ceil(WINDOW).max(1);
        let mut digit = Zeroizing::new(window(e, (windows - 1) * WINDOW, WINDOW));
        let mut acc = Zeroizing::new(lookup(&table[..], *digit));
        let mut entry = Zeroizing::new([0u64; N]);
        for i in (0..windows - 1).rev() {
            for _ in 0..WINDOW {
                *acc = self.square(&acc, &mut s);
            }
            *digit = window(e, i * WINDOW, WINDOW);
            *entry = lookup(&table[..], *digit);
            *acc = self.mul(&acc, &entry, &mut s);
        }
        *acc
    }
}

/// The `width` bits of `e` from bit `at` up (bits past the end read as zero); the position is
/// public, the value secret, so there is no branch on it.
#[inline(always)]
fn window<const N: usize>(e: &[u64; N], at: usize, width: usize) -> u32 {
    let (word, shift) = (at / 64, at % 64);
    let lo = e.get(word).copied().unwrap_or(0) >> shift;
    let hi = if shift + width > 64 {
        e.get(word + 1).copied().unwrap_or(0) << (64 - shift)
    } else {
        0
    };
    // Masked to `width` < 32 bits.
    ((lo | hi) & ((1u64 << width) - 1)) as u32
}

/// `table[index]`, reading every entry and keeping one by mask.
#[inline(always)]
fn lookup<const N: usize>(table: &[[u64; N]], index: u32) -> [u64; N] {
    let mut out = [0u64; N];
    for (k, entry) in table.iter().enumerate() {
        // Tables hold at most 2^FIXED_WINDOW or 2^WINDOW entries.
        let hit = (k as u32).ct_eq(&index);
        for (o, x) in out.iter_mut().zip(entry) {
            o.conditional_assign(x, hit);
        }
    }
    out
}

/// Precomputed powers of one base for exponents of at most `bits` bits.
///
/// The exponent's `FIXED_WINDOW`-bit windows are numbered `0..windows` from the least
/// significant; window `rounds * r + k` is looked up in row `r` at round `k`. Row `r` holds
/// `g^(d 2^(FIXED_WINDOW rounds r))` for every digit `d`, so
/// `g^e = prod_k (prod_r row_r[e_(rounds r + k)])^(2^(FIXED_WINDOW k))`, evaluated from the last
/// round down with `FIXED_WINDOW` squarings between rounds.
pub(super) struct FixedBase<const N: usize> {
    /// Rows of `2^FIXED_WINDOW` residues in Montgomery form, row after row.
    rows: Vec<[[u64; N]; 1 << FIXED_WINDOW]>,
    rounds: usize,
    windows: usize,
    bits: usize,
}

impl<const N: usize> FixedBase<N> {
    /// Tables for `base` (Montgomery form) and exponents below `2^bits`, evaluated in `rounds`
    /// rounds (more rounds: smaller tables, more squarings).
    pub(super) fn new(field: &Montgomery<N>, base: &[u64; N], bits: usize, rounds: usize) -> Self {
        let windows = bits.div_ceil(FIXED_WINDOW).max(1);
        let rounds = rounds.clamp(1, windows);
        let row_count = windows.div_ceil(rounds);
        let mut s = Scratch::new();
        let mut rows = Vec::with_capacity(row_count);
        // g^(2^(FIXED_WINDOW rounds r)) for the current row r.
        let mut unit = *base;
        for _ in 0..row_count {
            let mut row = [[0u64; N]; 1 << FIXED_WINDOW];
            row[0] = field.one();
            row[1] = unit;
            for d in 2..1 << FIXED_WINDOW {
                row[d] = field.mul(&row[d - 1], &unit, &mut s);
            }
            rows.push(row);
            for _ in 0..FIXED_WINDOW * rounds {
                unit = field.square(&unit, &mut s);
            }
        }
        FixedBase {
            rows,
            rounds,
            windows,
            bits,
        }
    }

    /// The exponent bound the tables cover, in bits.
    pub(super) fn bits(&self) -> usize {
        self.bits
    }

    /// `base^e` in Montgomery form for `e < 2^bits()`; the running time depends on the tables'
    /// shape only.
    pub(super) fn pow(&self, field: &Montgomery<N>, e: &[u64; N]) -> [u64; N] {
        let mut s = Scratch::new();
        let mut acc = Zeroizing::new(field.one());
        let mut digit = Zeroizing::new(0u32);
        let mut entry = Zeroizing::new([0u64; N]);
        for k in (0..self.rounds).rev() {
            if k + 1 < self.rounds {
                for _ in 0..FIXED_WINDOW {
                    *acc = field.square(&acc, &mut s);
                }
            }
            for (r, row) in self.rows.iter().enumerate() {
                let w = self.rounds * r + k;
                if w < self.windows {
                    *digit = window(e, w * FIXED_WINDOW, FIXED_WINDOW);
                    *entry = lookup(&row[..], *digit);
                    *acc = field.mul(&acc, &entry, &mut s);
                }
            }
        }
        *acc
    }
}

#[cfg(test)]
mod tests {
    use super::super::modp_primes::{P_1024, P_2048};
    use super::*;
    use proptest::prelude::*;

    /// Reduces arbitrary words below `p` by clearing the top word's high bit (every MODP prime
    /// has its top bit set), so tests can draw residues freely.
    fn below<const N: usize>(mut x: [u64; N]) -> [u64; N] {
        x[N - 1] &= u64::MAX >> 1;
        x
    }

    fn p_minus<const N: usize>(p: [u64; N], k: u64) -> [u64; N] {
        let mut x = p;
        x[0] -= k;
        x
    }

    #[test]
    fn constants_are_right() {
        let f = Montgomery::new(P_2048);
        assert_eq!(P_2048[0].wrapping_mul(f.n0), u64::MAX, "p n0 = -1 mod 2^64");
        let mut s = Scratch::new();
        let mut one = [0u64; 32];
        one[0] = 1;
        // R R^-1 = 1 and R^2 R^-1 = R.
        assert_eq!(f.leave_montgomery(&f.one(), &mut s), one);
        assert_eq!(f.leave_montgomery(&f.r2, &mut s), f.one());
        assert!(less_than(&f.one(), &P_2048) && less_than(&f.r2, &P_2048));
    }

    #[test]
    fn largest_residues_reduce_fully() {
        let f = Montgomery::new(P_1024);
        let mut s = Scratch::new();
        let mut one = [0u64; 16];
        one[0] = 1;
        let minus_one = p_minus(P_1024, 1);
        let m = f.enter_montgomery(&minus_one, &mut s);
        // (p - 1)^2 = 1, (p - 1)(p - 1)^2 = p - 1, and back out of Montgomery form unchanged.
        assert_eq!(f.leave_montgomery(&f.square(&m, &mut s), &mut s), one);
        assert_eq!(
            f.leave_montgomery(&f.mul(&m, &f.one(), &mut s), &mut s),
            minus_one
        );
        assert_eq!(f.leave_montgomery(&m, &mut s), minus_one);
        // (p - 1)^e is 1 for even e and p - 1 for odd e, at any exponent bound.
        for (e, bits) in [(0u64, 1), (1, 1), (6, 3), (7, 160), (u64::MAX, 64)] {
            let mut exponent = [0u64; 16];
            exponent[0] = e;
            let r = f.leave_montgomery(&f.pow(&m, &exponent, bits), &mut s);
            assert_eq!(r, if e % 2 == 0 { one } else { minus_one }, "{e}");
        }
        // Zero stays zero.
        assert_eq!(f.square(&[0; 16], &mut s), [0; 16]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn squaring_is_multiplication_by_itself(x in any::<[u64; 16]>()) {
            let f = Montgomery::new(P_1024);
            let mut s = Scratch::new();
            let x = below(x);
            prop_assert_eq!(f.square(&x, &mut s), f.mul(&x, &x, &mut s));
            // In and out of Montgomery form.
            let m = f.enter_montgomery(&x, &mut s);
            prop_assert_eq!(f.leave_montgomery(&m, &mut s), x);
        }

        #[test]
        fn fixed_base_tables_agree_with_the_window_ladder(
            e in any::<[u64; 3]>(),
            bits in 1usize..=192,
            rounds in 1usize..=48,
        ) {
            let f = Montgomery::new(P_1024);
            let mut s = Scratch::new();
            let mut two = [0u64; 16];
            two[0] = 2;
            let g = f.enter_montgomery(&two, &mut s);
            let mut exponent = [0u64; 16];
            exponent[..3].copy_from_slice(&e);
            // Only the low `bits` bits.
            for (i, w) in exponent.iter_mut().enumerate() {
                let keep = bits.saturating_sub(64 * i).min(64);
                *w &= if keep == 64 { u64::MAX } else { (1u64 << keep) - 1 };
            }
            let tables = FixedBase::new(&f, &g, bits, rounds);
            prop_assert_eq!(tables.pow(&f, &exponent), f.pow(&g, &exponent, bits));
        }
    }
}
