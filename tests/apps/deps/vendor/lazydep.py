NAME = "lazydep"
