"""`python -m services.admin`: run the admin service (settings from A4CO_* variables)."""

from generated.platform import STREAMS
from runtime.service.main import main
from services.admin.service import definition

main(definition(), STREAMS)
