"""Backpropagation through time, written out by hand.

Each ``*Sequence`` function runs one recurrent layer in one direction over a whole sequence.
Its forward keeps the gate activations a backward pass needs; its backward walks the time steps
in reverse, turning the gradient of every hidden state into gradients of the gates, and then
computes the recurrent weight gradients for all time steps with one matrix product each.

The input projection ``x_t W_ih^T + b_ih`` is done by the caller for all steps at once (one
matrix product, differentiated by autograd), so these functions take ``xp`` (T, N, G*H) and
return ``d xp``; ``W_ih``, ``b_ih`` and ``x`` get their gradients from autograd.

Notation: ``dX`` is dL/dX. ``m_t`` (T, N, 1), when given, is 1 where step t is inside the
sequence and 0 in the padding; a padded step copies the state through unchanged, so its
gradient also passes straight through and its gates get none.

LSTM (gate order i, f, g, o as in torch.nn)::

    a_t = xp_t + h_{t-1} W_hh^T + b_hh = [a_i, a_f, a_g, a_o]
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
    c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)

  backward, with dh_t = (grad from the output at t) + (grad from step t+1):

    do = dh_t * tanh(c_t)
    dc = dc_t + dh_t * o * (1 - tanh(c_t)^2)
    di, dg, df = dc * g, dc * i, dc * c_{t-1};   dc_{t-1} = dc * f
    da = [di * i(1-i), df * f(1-f), dg * (1-g^2), do * o(1-o)]
    dh_{t-1} += da W_hh;   dW_hh = sum_t da_t^T h_{t-1};   db_hh = sum_t da_t;   dxp_t = da_t

GRU (r, z, n as in torch.nn)::

    [b_r, b_z, b_n] = h_{t-1} W_hh^T + b_hh
    r = sigmoid(xp_r + b_r);  z = sigmoid(xp_z + b_z);  n = tanh(xp_n + r * b_n)
    h_t = (1 - z) * n + z * h_{t-1}

  backward:

    dn = dh_t (1 - z);  dz = dh_t (h_{t-1} - n);  dh_{t-1} = dh_t z
    dan = dn (1 - n^2);  dr = dan * b_n
    dxp = [dr r(1-r), dz z(1-z), dan];   dbh = [dr r(1-r), dz z(1-z), dan * r]
    dh_{t-1} += dbh W_hh;   dW_hh = sum_t dbh_t^T h_{t-1};   db_hh = sum_t dbh_t

Elman RNN::

    h_t = phi(xp_t + h_{t-1} W_hh^T + b_hh)
    da = dh_t * phi'(.)  (tanh: 1 - h_t^2;  relu: [h_t > 0]);   dh_{t-1} = da W_hh
"""

from __future__ import annotations

import functools
import weakref

import torch
from torch.autograd.function import once_differentiable


@functools.cache
def _onednn_ok() -> bool:
    """Whether oneDNN's packed linear runs here (PyTorch CPU builds with mkldnn)."""
    try:
        x, w = torch.ones(2, 3), torch.ones(4, 3)
        packed = torch.ops.mkldnn._reorder_linear_weight(w, 2)
        y = torch.ops.mkldnn._linear_pointwise(x, packed, None, "none", [], "")
        return bool(torch.allclose(y, x @ w.t()))
    except (AttributeError, RuntimeError):
        return False


# (data_ptr, version, shape, batch, transposed) -> (weak reference to the weight, packed weight)
_PACKED: dict[tuple, tuple[weakref.ref, torch.Tensor]] = {}


def times_transposed(weight: torch.Tensor, batch: int, transposed: bool = False):
    """``f(h) = h @ weight^T`` (or ``h @ weight`` when ``transposed``) for a weight used at
    every time step.

    On CPU in float32 the weight is packed once into oneDNN's blocked layout, whose small-batch
    GEMM runs several times faster here than ``torch.mm`` (the kernel ``torch.nn.LSTM`` uses);
    elsewhere (CUDA, float64) it is a plain matrix product. Packed weights are cached by the
    weight's storage and version, so generation (one step per call, weights unchanged) packs
    once, and a weight updated in place is packed again.
    """
    if not _fast(weight):
        w = weight if transposed else weight.t()
        return lambda h: h @ w
    key = (weight.data_ptr(), weight._version, tuple(weight.shape), batch, transposed)
    ref, packed = _PACKED.get(key, (None, None))
    if ref is None or ref() is not weight:  # a new tensor may reuse freed memory
        w = weight.t() if transposed else weight
        packed = torch.ops.mkldnn._reorder_linear_weight(w.contiguous(), batch)
        if len(_PACKED) >= 16:
            _PACKED.pop(next(iter(_PACKED)))
        _PACKED[key] = (weakref.ref(weight), packed)
    return lambda h: torch.ops.mkldnn._linear_pointwise(h, packed, None, "none", [], "")


def _fast(t: torch.Tensor) -> bool:
    """Whether products with ``t`` go to oneDNN: CPU, float32, and a build that has it."""
    # torch.compile cannot lower the packed kernels; it gets plain products to fuse instead.
    return (
        t.device.type == "cpu"
        and t.dtype == torch.float32
        and not torch.compiler.is_compiling()
        and _onednn_ok()
    )


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for 2-D operands; oneDNN on CPU float32 (about twice MKL's speed here)."""
    if _fast(a):
        return torch.ops.mkldnn._linear_pointwise(a, b.t(), None, "none", [], "")
    return a @ b


class Linear(torch.autograd.Function):
    """``x W^T + b`` over (..., I) -> (..., O) with every product on ``matmul``.

    The input projection of a recurrent layer for all time steps is its largest matrix product;
    this keeps it, and its two backward products, on the fast kernel.
    """

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        x2 = x.reshape(-1, x.size(-1))
        y = times_transposed(weight, x2.size(0))(x2)
        if bias is not None:
            y = y + bias
        return y.reshape(*x.shape[:-1], weight.size(0))

    @staticmethod
    @once_differentiable
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        dy2 = dy.reshape(-1, dy.size(-1))
        dx = matmul(dy2, weight).reshape(x.shape) if ctx.needs_input_grad[0] else None
        return dx, *_weight_grads(dy2, x, ctx.has_bias)


def _weight_grads(dy: torch.Tensor, x: torch.Tensor, has_bias: bool):
    """dW (O, I) and db (O,) (None without a bias) of ``y = x W^T + b`` from ``dy`` (..., O)
    and ``x`` (..., I), over every leading position at once (all time steps of a layer)."""
    dy2 = dy.reshape(-1, dy.size(-1))
    dw = matmul(dy2.t(), x.reshape(-1, x.size(-1)))
    db = dy2.sum(0) if has_bias else None
    return dw, db


def _masked(mask, t, new, old):
    return new if mask is None else torch.where(mask[t], new, old)


def _split_padded(mask, t, grad):
    """``(grad in the rows inside their sequence at step t, grad in the padded rows)``: a
    padded step passes its part straight to step t-1. Without a mask: ``(grad, None)``."""
    if mask is None:
        return grad, None
    m = mask[t].to(grad.dtype)
    return grad * m, grad * (1 - m)


class LSTMSequence(torch.autograd.Function):
    """One LSTM layer, one direction.

    Inputs: xp (T, N, 4H), h0 (N, H), c0 (N, H), w_hh (4H, H), b_hh (4H,) or None,
    mask (T, N, 1) or None.
    Outputs: out (T, N, H), h_T (N, H), c_T (N, H).
    """

    @staticmethod
    def forward(ctx, xp, h0, c0, w_hh, b_hh, mask):
        T, H = xp.size(0), h0.size(-1)
        acts = xp.new_empty(xp.shape)  # i, f, g, o after their nonlinearity
        cs = xp.new_empty((T + 1, *h0.shape))  # c_0 .. c_T
        hs = xp.new_empty((T + 1, *h0.shape))  # h_0 .. h_T
        tcs = xp.new_empty((T, *h0.shape))  # tanh(c_t), kept for backward
        cs[0], hs[0] = c0, h0
        by_w = times_transposed(w_hh, h0.size(0))
        xb = xp if b_hh is None else xp + b_hh  # both biases sit outside the nonlinearity
        for t in range(T):
            act = acts[t]
            torch.add(xb[t], by_w(hs[t]), out=act)  # pre-activations (N, 4H), then in place:
            act[:, 2 * H : 3 * H].tanh_()  # g
            act[:, : 2 * H].sigmoid_()  # i, f
            act[:, 3 * H :].sigmoid_()  # o
            i, f, g, o = act.split(H, dim=-1)
            if mask is None:  # write straight into the saved buffers
                torch.mul(f, cs[t], out=cs[t + 1])
                cs[t + 1].addcmul_(i, g)  # c_t = f c_{t-1} + i g
                torch.tanh(cs[t + 1], out=tcs[t])
                torch.mul(o, tcs[t], out=hs[t + 1])  # h_t = o tanh(c_t)
            else:
                c = torch.addcmul(f * cs[t], i, g)
                torch.tanh(c, out=tcs[t])
                cs[t + 1] = _masked(mask, t, c, cs[t])
                hs[t + 1] = _masked(mask, t, o * tcs[t], hs[t])
        ctx.save_for_backward(acts, cs, hs, tcs, w_hh, mask)
        ctx.has_bias = b_hh is not None
        return hs[1:], hs[T], cs[T]

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_hT, d_cT):
        acts, cs, hs, tcs, w_hh, mask = ctx.saved_tensors
        T, H = acts.size(0), hs.size(-1)
        by_w = times_transposed(w_hh, hs.size(1), transposed=True)  # dh_{t-1} = da_t W_hh
        # Nonlinearity derivatives for all steps at once: s(1-s) for i, f, o; 1-g^2 for g.
        deriv = torch.addcmul(acts, acts, acts, value=-1)
        g_all = acts[..., 2 * H : 3 * H]
        deriv[..., 2 * H : 3 * H] = 1 - g_all * g_all
        dtanh_c = 1 - tcs * tcs
        da = torch.empty_like(acts)
        dh = d_hT.clone()
        dc = d_cT.clone()
        for t in reversed(range(T)):
            dh.add_(d_out[t])  # dh and dc are this loop's own buffers: update in place
            i, f, g, o = acts[t].split(H, dim=-1)
            dh, dh_keep = _split_padded(mask, t, dh)
            dc, dc_keep = _split_padded(mask, t, dc)
            dc.addcmul_(dh * o, dtanh_c[t])  # through h_t = o tanh(c_t)
            da_i, da_f, da_g, da_o = da[t].split(H, dim=-1)
            torch.mul(dc, g, out=da_i)  # dL/di
            torch.mul(dc, cs[t], out=da_f)  # dL/df
            torch.mul(dc, i, out=da_g)  # dL/dg
            torch.mul(dh, tcs[t], out=da_o)  # dL/do
            da[t].mul_(deriv[t])  # through the gate nonlinearities
            dc.mul_(f)
            dh = by_w(da[t])
            if mask is not None:
                dh, dc = dh + dh_keep, dc + dc_keep
        dw, db = _weight_grads(da, hs[:-1], ctx.has_bias)
        return da, dh, dc, dw, db, None


class GRUSequence(torch.autograd.Function):
    """One GRU layer, one direction.

    Inputs: xp (T, N, 3H), h0 (N, H), w_hh (3H, H), b_hh (3H,) or None, mask (T, N, 1) or None.
    Outputs: out (T, N, H), h_T (N, H).
    """

    @staticmethod
    def forward(ctx, xp, h0, w_hh, b_hh, mask):
        T, H = xp.size(0), h0.size(-1)
        rzn = xp.new_empty(xp.shape)  # r, z, n after their nonlinearity
        bn = xp.new_empty((T, *h0.shape))  # the recurrent part of n: (h W_hn^T + b_hn)
        hs = xp.new_empty((T + 1, *h0.shape))
        hs[0] = h0
        by_w = times_transposed(w_hh, h0.size(0))
        for t in range(T):
            gh = by_w(hs[t]) if b_hh is None else by_w(hs[t]) + b_hh
            xr, xz, xn = xp[t].split(H, dim=-1)
            hr, hz, hn = gh.split(H, dim=-1)
            r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
            n = (xn + r * hn).tanh()
            h = (1 - z) * n + z * hs[t]
            hs[t + 1] = _masked(mask, t, h, hs[t])
            rzn[t] = torch.cat([r, z, n], -1)
            bn[t] = hn
        ctx.save_for_backward(rzn, bn, hs, w_hh, mask)
        ctx.has_bias = b_hh is not None
        return hs[1:], hs[T]

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_hT):
        rzn, bn, hs, w_hh, mask = ctx.saved_tensors
        T, H = rzn.size(0), hs.size(-1)
        by_w = times_transposed(w_hh, hs.size(1), transposed=True)
        dxp = torch.empty_like(rzn)
        dgh = torch.empty_like(rzn)
        dh = d_hT.clone()
        for t in reversed(range(T)):
            dh = dh + d_out[t]
            dh, dh_keep = _split_padded(mask, t, dh)
            r, z, n = rzn[t].split(H, dim=-1)
            dn = dh * (1 - z)
            dz = dh * (hs[t] - n)
            dan = dn * (1 - n * n)
            dar = dan * bn[t] * r * (1 - r)
            daz = dz * z * (1 - z)
            torch.cat([dar, daz, dan], -1, out=dxp[t])
            torch.cat([dar, daz, dan * r], -1, out=dgh[t])
            dh = dh * z + by_w(dgh[t])
            if mask is not None:
                dh = dh + dh_keep
        dw, db = _weight_grads(dgh, hs[:-1], ctx.has_bias)
        return dxp, dh, dw, db, None


class RNNSequence(torch.autograd.Function):
    """One Elman RNN layer, one direction, tanh or relu.

    Inputs: xp (T, N, H), h0 (N, H), w_hh (H, H), b_hh (H,) or None, mask or None, relu (bool).
    Outputs: out (T, N, H), h_T (N, H).
    """

    @staticmethod
    def forward(ctx, xp, h0, w_hh, b_hh, mask, relu):
        T = xp.size(0)
        hs = xp.new_empty((T + 1, *h0.shape))
        hs[0] = h0
        by_w = times_transposed(w_hh, h0.size(0))
        xb = xp if b_hh is None else xp + b_hh
        for t in range(T):
            a = xb[t] + by_w(hs[t])  # (N, H)
            h = a.relu() if relu else a.tanh()
            hs[t + 1] = _masked(mask, t, h, hs[t])
        ctx.save_for_backward(hs, w_hh, mask)
        ctx.has_bias, ctx.relu = b_hh is not None, relu
        return hs[1:], hs[T]

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out, d_hT):
        hs, w_hh, mask = ctx.saved_tensors
        T = hs.size(0) - 1
        by_w = times_transposed(w_hh, hs.size(1), transposed=True)
        da = torch.empty_like(hs[1:])
        dh = d_hT.clone()
        for t in reversed(range(T)):
            dh = dh + d_out[t]
            dh, dh_keep = _split_padded(mask, t, dh)
            h = hs[t + 1]  # stale in padded rows, where dh is 0
            da[t] = dh * ((h > 0).to(dh.dtype) if ctx.relu else (1 - h * h))
            dh = by_w(da[t])
            if mask is not None:
                dh = dh + dh_keep
        dw, db = _weight_grads(da, hs[:-1], ctx.has_bias)
        return da, dh, dw, db, None, None
