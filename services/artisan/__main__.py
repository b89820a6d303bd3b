"""`python -m services.artisan`: run the artisan service (settings from A4CO_* variables)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.artisan.service import definition

main(definition(), STREAMS)
