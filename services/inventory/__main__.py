"""`python -m services.inventory`: run the inventory service."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.inventory.service import definition

main(definition(), STREAMS)
