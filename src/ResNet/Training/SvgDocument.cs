using System.Globalization;
using System.Text;

namespace Engine.ResNet.Training;

/// <summary>What every chart here starts with: the SVG element on a white page, and its title.</summary>
static class SvgDocument
{
    /// <summary>A new document of the given size, white, with the centred title at <paramref name="titleY"/>; close it with "&lt;/svg&gt;".</summary>
    public static StringBuilder Start(int width, int height, int fontSize, string title, double titleX, double titleY)
    {
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture,
            $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"{fontSize}\">\n");
        svg.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{titleX}\" y=\"{titleY}\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n");
        return svg;
    }

    /// <summary>Text made safe inside an element.</summary>
    public static string Escape(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
