// The one place the version is written (the Makefile and the .deb read it from here).
#pragma once
#define HERALD_VERSION "0.1.0"
