import sys
from pathlib import Path

# lets the tests here `import grid_family` (pytest runs with --import-mode=importlib)
sys.path.insert(0, str(Path(__file__).parent))
