"""`python -m services.product`: run the product service (settings from A4CO_* variables)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.product.service import definition

main(definition(), STREAMS)
