// uPlot is loaded as a classic script (/uplot.js, its IIFE build) and used as the global `uPlot`.
/// <reference path="../../../node_modules/uplot/dist/uPlot.d.ts" />
