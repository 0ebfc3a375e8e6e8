"""SenseGen-JAX: an LSTM mixture-density generator of sensor time series."""
