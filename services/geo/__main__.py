"""`python -m services.geo`: run the geo service (settings from A4CO_* variables)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.geo.service import definition

main(definition(), STREAMS)
