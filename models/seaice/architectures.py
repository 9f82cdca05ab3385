"""The sea-ice networks a card can name (``architecture.name``), and how their weights are read."""

from ..runtime.architectures import Architecture

ARCHITECTURES = {
    # NERSC s1_icetype_cnn from its released Keras HDF5 file (card format "keras_hdf5");
    # kwargs: window, bands, classes.
    "nersc_icetype_cnn": Architecture(".seaice.icetype_cnn:build_nersc_icetype_cnn",
                                      read_weights=".seaice.icetype_cnn:read_nersc_state_dict"),
}
