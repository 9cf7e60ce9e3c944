"""A model trained with the native backend keeps its accuracy when evaluated in Ngspice."""
from networks import iris_4_16_3, iris_volts

from ebana.backends.dense.backend import DenseBackend
from ebana.backends.ngspice import NgspiceBackend
from ebana.training import MSE, Adam, DataLoader


def test_iris_trained_natively_scores_the_same_in_ngspice():
    x_train, x_test, t_train, t_test = iris_volts()
    model = iris_4_16_3(DenseBackend())
    model.fit(DataLoader({"xp": x_train, "xn": -x_train, "out": t_train}, batch_size=16, shuffle=True, seed=0),
              epochs=30, loss_fn=MSE(), optimizer=Adam(lr=5e-6), beta=1e-6, symmetric=True, verbose=False)
    in_ngspice = iris_4_16_3(NgspiceBackend(fold_sources=False))  # the netlist exactly as written
    for name, g in model.parameters().items():
        in_ngspice.parameters()[name][...] = g
    test = {"xp": x_test, "xn": -x_test, "out": t_test}
    native, spice = model.evaluate(test, MSE()), in_ngspice.evaluate(test, MSE())
    assert native["accuracy"] >= 0.85
    assert abs(native["accuracy"] - spice["accuracy"]) <= 0.01
    assert abs(native["loss"] - spice["loss"]) <= 1e-9
