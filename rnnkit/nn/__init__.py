"""Recurrent cells and layers written from their equations, exchangeable with ``torch.nn``."""

from rnnkit.nn.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.nn.deep_minrnn import DeepMinGRU, DeepMinLSTM
from rnnkit.nn.layers import GRU, LSTM, RNN
from rnnkit.nn.minrnn import MinGRU, MinLSTM

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "MinGRU", "MinLSTM"]
__all__ += ["DeepMinGRU", "DeepMinLSTM"]
